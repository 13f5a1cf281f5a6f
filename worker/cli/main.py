"""``pinrelay``'s entry point: parse, run the command, turn errors into exit codes.

Every command reads settings once from the environment; errors are one clear
line on stderr and a non-zero exit, never a traceback. The exit codes (a table
in the README, part of the public contract):

====  ==========================================================================
0     ok
1     not found, not approved, failed (an unknown id, a check that failed, Redis down)
2     usage or invalid input (argparse's own code, a bad setting, a refused request)
3     ``wait`` timed out: the send has not settled yet
4     an abuse limit refused the send: retry later (the message says when)
====  ==========================================================================
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import kombu.exceptions
import redis

from worker.cli.common import EXIT_ABUSE_LIMIT, EXIT_FAILED, EXIT_USAGE
from worker.cli.extras import missing_extra, require_server
from worker.cli.parser import build_parser
from worker.errors import (
    AbuseLimitError,
    ConfigError,
    PinrelayError,
    UnknownRequestError,
    UsageError,
    ValidationError,
)

__all__ = ["main", "build_parser"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and not {"-h", "--help"} & set(argv):  # before parsing: `sim` has no options without it
        try:
            require_server(argv[0])
        except UsageError as exc:
            print(f"pinrelay: {exc}", file=sys.stderr)
            return EXIT_USAGE
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ModuleNotFoundError as exc:
        usage = missing_extra(exc, args.command)
        if usage is None:
            raise
        print(f"pinrelay: {usage}", file=sys.stderr)
        return EXIT_USAGE
    except UnknownRequestError as exc:
        print(f"pinrelay: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except AbuseLimitError as exc:
        print(f"pinrelay: refused by an abuse limit ({exc.limit}): {exc}; {exc.retry_hint()}",
              file=sys.stderr)
        return EXIT_ABUSE_LIMIT
    except ValidationError as exc:
        print(f"pinrelay: invalid request: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"pinrelay: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"pinrelay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PinrelayError as exc:
        print(f"pinrelay: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (redis.RedisError, kombu.exceptions.OperationalError) as exc:
        print(f"pinrelay: Redis/broker unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
