"""The ``pinrelay`` parser: every command group's subcommands, in the order ``--help`` lists them.

Command names, options and help texts are a public contract; each group module
(:mod:`worker.cli.sends` ...) declares its own and sets each subcommand's ``func``.
"""

from __future__ import annotations

import argparse
from typing import Protocol

from worker.cli import bench, dead, flower, local, report, routes, sends, services
from worker.constants import VERSION


class CommandGroup(Protocol):
    """A module that adds its subcommands (each with ``func=run_…``) to the parser."""

    def add_arguments(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


GROUPS: tuple[CommandGroup, ...] = (sends, services, local, dead, flower, report, bench, routes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinrelay", description="Deliver 2FA PINs by SMS.")
    parser.add_argument("--version", action="version", version=f"pinrelay {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_arguments(sub)
    return parser
