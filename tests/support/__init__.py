"""What tests in every folder share: isolated settings, waiting, a simulator, a local HTTP
server, live stacks of real processes, `pinrelay` commands run as an operator would.

The conftest.py files hold the fixtures, each a thin wrapper around a helper here, so a
test that needs one of these outside a fixture (or with other arguments) imports it
(``from tests.support.waiting import wait_for``) instead of copying it.
"""
