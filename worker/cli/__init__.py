"""``pinrelay``: the command line, one module per command group.

:mod:`.parser` assembles the groups (:mod:`.sends`, :mod:`.services`, :mod:`.local`,
:mod:`.dead`, :mod:`.flower`, :mod:`.report`, :mod:`.bench`); each group module declares
its own subcommands and runs them. :mod:`.main` turns errors into exit codes. Nothing
outside this package imports it: the command modules call into the stages, never back.
"""

from __future__ import annotations

from worker.cli.main import main

__all__ = ["main"]
