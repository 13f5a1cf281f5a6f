"""``python -m pinrelay_ops.simulator [options]``: the simulator in the foreground."""

from __future__ import annotations

import argparse
import sys

from .cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pinrelay_ops.simulator",
        description="Fake SMS providers (Vonage 2FA and SMS API, Twilio) with receipts and fault injection.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
