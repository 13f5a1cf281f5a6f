"""The ``pinrelay`` parser: every command group's subcommands, in the order ``--help`` lists them.

Command names, options and help texts are a public contract; each group module
(:mod:`worker.cli.sends` ...) declares its own and sets each subcommand's ``func``.
Every option has a help text (a test walks the parser), and ``--help`` shows each
default that is set (:class:`HelpFormatter`), so no default is a surprise.
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from worker.cli import (
    api,
    bench,
    dead,
    doctor,
    flower,
    guard,
    keys,
    local,
    report,
    routes,
    sends,
    services,
    verify,
)
from worker.constants import VERSION


class CommandGroup(Protocol):
    """A module that adds its subcommands (each with ``func=run_…``) to the parser."""

    def add_arguments(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


GROUPS: tuple[CommandGroup, ...] = (
    sends, verify, services, local, dead, flower, report, doctor, bench, api, keys, routes, guard,
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to an option's help, unless the help already names its default
    or there is none to show (unset, or a flag that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose subcommands use :class:`HelpFormatter` too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="pinrelay", description="Deliver 2FA PINs by SMS.",
                    epilog="exit codes: 0 ok; 1 not found, not approved or failed; 2 usage or invalid "
                           "input; 3 `wait` timed out; 4 an abuse limit (retry later)")
    parser.add_argument("--version", action="version", version=f"pinrelay {VERSION}",
                        help="print the version and exit")
    sub: Any = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in GROUPS:
        group.add_arguments(sub)
    return parser
