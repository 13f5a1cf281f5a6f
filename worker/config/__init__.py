"""All configuration, read from the environment in one place (pydantic-settings).

Nothing else in pinrelay reads ``os.environ``: everything takes a :class:`Settings`, so tests pass
their own and a bad variable is reported once, at start-up, by name. :class:`Settings` is the one
table of variables; ``from_env``, ``to_env``, :data:`ENV_NAMES` and the README's configuration
table (``python -m worker.config --markdown``) are all derived from it.

=================  ===============================================================================
module             job
=================  ===============================================================================
``settings``       :class:`Settings`: the table of variables, the derived URLs, the per-role checks
``types``          the value types: bounds, choices, lists and URLs, each with the phrase it says
``rules``          every rule that ties settings together, always-on and per role
``sources``        where values come from: the environment, then ``pinrelay up``'s runtime file
``base``           reading, copying (``replace``), the repr, ``summary`` and ``to_env``
=================  ===============================================================================
"""

from __future__ import annotations

from worker.config.rules import DEMO_API_KEY, DEMO_API_SECRET
from worker.config.settings import Settings
from worker.config.types import ROUTE_NAMES, is_loopback_url, redact_url

__all__ = ["Settings", "ENV_NAMES", "ROUTE_NAMES", "DEMO_API_KEY", "DEMO_API_SECRET", "redact_url",
           "is_loopback_url", "settings_table_markdown"]

# Attribute name -> env suffix (``PINRELAY_<suffix>``), for code that lists the variables.
ENV_NAMES: dict[str, str] = {name: meta.suffix for name, meta in Settings.env_meta().items()}


def settings_table_markdown() -> str:
    """The README's configuration table, one row per variable, in declaration order."""
    return Settings.table_markdown()
