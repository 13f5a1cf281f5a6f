"""The Twilio side of the simulator: Programmable Messaging's create-message call (docs/provider-routes.md B).

:mod:`.answers` (the success resource and the error JSON, with their HTTP
statuses), :mod:`.checks` (Basic auth and the params), :mod:`.messages` (the
route itself). The status callbacks it triggers are planned in
``receipts/status_callbacks.py`` and signed with ``webhook/twilio/signature.py``.
"""
