"""``python -m worker.cli``: the same as the ``pinrelay`` script."""

from __future__ import annotations

import sys

from worker.cli.main import main

sys.exit(main())
