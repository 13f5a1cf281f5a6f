"""``pinrelay``'s entry point: parse, run the command, turn errors into exit codes.

Every command reads settings once from the environment; errors are one clear
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import kombu.exceptions
import redis

from worker.cli.parser import build_parser
from worker.errors import ConfigError, PinrelayError, UnknownRequestError, ValidationError

__all__ = ["main", "build_parser"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UnknownRequestError as exc:
        print(f"pinrelay: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        print(f"pinrelay: invalid request: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"pinrelay: configuration error: {exc}", file=sys.stderr)
        return 2
    except PinrelayError as exc:
        print(f"pinrelay: {exc}", file=sys.stderr)
        return 1
    except (redis.RedisError, kombu.exceptions.OperationalError) as exc:
        print(f"pinrelay: Redis/broker unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
