"""``python -m worker.config --markdown``: the README's configuration table."""

import sys

from worker.config import settings_table_markdown

if sys.argv[1:] != ["--markdown"]:
    sys.exit("usage: python -m worker.config --markdown")
sys.stdout.write(settings_table_markdown())
