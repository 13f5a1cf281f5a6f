"""All configuration, read from the environment in one place.

Nothing else in pinrelay reads ``os.environ``: everything takes a
:class:`Settings`, so tests pass their own and a bad variable is reported once,
at start-up, by name. :class:`Settings` is the one table of variables: each
field declares its ``PINRELAY_*`` name, parser, default and doc (see
:func:`worker.envparse.setting`), and ``from_env``, ``to_env``, :data:`ENV_NAMES`
and the README's configuration table (``python -m worker.config --markdown``)
are all derived from it, so they cannot disagree. How one value is parsed and
checked lives in :mod:`worker.envparse`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from worker import constants as c
from worker.envparse import (
    EnvVar,
    env_vars,
    is_loopback_url,
    redact_url,
    render,
)
from worker.errors import ConfigError
from worker.redisurl import connection_url, is_tls_url, kombu_broker_url
from worker.settings_core import DEMO_API_KEY, DEMO_API_SECRET
from worker.settings_features import ROUTE_NAMES, FeatureSettings

# redact_url lived here first; callers may still import it from worker.config.
__all__ = ["Settings", "ENV_NAMES", "ROUTE_NAMES", "redact_url", "settings_table_markdown"]


@dataclass(frozen=True, slots=True)
class Settings(FeatureSettings):
    """Every knob, typed; build it with :meth:`from_env`. The repr hides secrets.

    The fields are declared in :class:`~worker.settings_core.CoreSettings` (the send loop) and
    :class:`~worker.settings_features.FeatureSettings` (verify, API, routes, bounds); what is
    derived from them (checks, repr, ``from_env``/``to_env``) is here.
    """

    def __post_init__(self) -> None:
        for name, var in _VARS.items():
            var.check(getattr(self, name))
        if self.verify_secret and self.record_ttl_s < self.verify_ttl_s:  # a verification outlives its code
            raise ConfigError(f"PINRELAY_RECORD_TTL ({self.record_ttl_s}s) must be at least "
                              f"PINRELAY_VERIFY_TTL ({self.verify_ttl_s}s)")
        # Sentinels, primary and CA ride in redis_url, the one string every client is built from
        url = connection_url(self.redis_url, self.redis_sentinels, self.redis_sentinel_master,
                             self.redis_ca_file, self.broker_url)
        if url != self.redis_url:
            object.__setattr__(self, "redis_url", url)  # frozen: set once, while being built

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            var = _VARS[f.name]
            if var.secret and value:
                value = "***"
            elif var.redact and value:
                value = redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    def summary(self) -> dict[str, object]:
        """Every setting by its variable's name, secrets hidden and URL passwords masked: the
        `ready` log event carries it, so an operator sees what a process really runs with."""
        shown: dict[str, object] = {}
        for name, var in _VARS.items():
            value = getattr(self, name)
            if var.secret and value:
                value = "[redacted]"
            elif var.redact and value:
                value = redact_url(value)
            shown[var.name] = list(value) if isinstance(value, tuple) else value
        return shown

    def check_provider_credentials(self) -> None:
        """Refuse the demo credentials unless every provider URL is on loopback.

        Called by the commands that make provider calls (`worker`, `up`): an unset or
        empty ``PINRELAY_API_KEY`` must not quietly become the simulator's account and
        send every PIN into a 401 at the real provider.
        """
        if not {"sc2fa", "sms"} & set(self.routes):
            return  # no Vonage route: the key is never sent (the twilio route has its own account)
        remote = [f"{_VARS[n].name}={url}" for n in ("api_url", "conversion_url")
                  if not is_loopback_url(url := getattr(self, n))]
        demo = [_VARS[n].name for n, v in (("api_key", DEMO_API_KEY), ("api_secret", DEMO_API_SECRET))
                if getattr(self, n) == v]
        if remote and demo:
            raise ConfigError(
                f"{' and '.join(demo)} unset (or the simulator's demo values) while "
                f"{remote[0]} is not on loopback: set PINRELAY_API_KEY and PINRELAY_API_SECRET "
                "to your provider account's credentials"
            )

    def secret_values(self) -> tuple[str, ...]:
        """Every secret these settings hold, for the log redactor."""
        return tuple(v for name, var in sorted(_VARS.items()) if var.secret and (v := getattr(self, name)))

    @property
    def twofa_url(self) -> str:
        return self.api_url + c.TWOFA_PATH

    @property
    def conversion_endpoint(self) -> str:
        return self.conversion_url + c.CONVERSION_PATH

    def with_redis(self, url: str) -> Settings:
        """A copy pointing at ``url`` (and at it as broker unless one was set), and only at it:
        configured Sentinels are dropped (they would be folded over ``url``), the CA kept for TLS."""
        ca_file = self.redis_ca_file if is_tls_url(url) else None
        return replace(self, redis_url=url, redis_sentinels=(), redis_sentinel_master=None,
                       redis_ca_file=ca_file)

    @property
    def effective_broker_url(self) -> str:
        """The broker URL as Celery/kombu read it (a Sentinel URL in kombu's `sentinel://` form)."""
        url = self.broker_url or self.redis_url
        if url is None:
            raise ConfigError("no Redis: set PINRELAY_REDIS_URL or start `pinrelay up`")
        return kombu_broker_url(url)

    def to_env(self) -> dict[str, str]:
        """The ``PINRELAY_*`` variables that rebuild these settings in a child process."""
        return {var.name: render(value) for name, var in _VARS.items()
                if (value := getattr(self, name)) is not None}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``PINRELAY_*``; raise :class:`ConfigError` naming the first bad variable."""
        env = os.environ if environ is None else environ
        return cls(**{name: var.read(env) for name, var in _VARS.items()})


_VARS: dict[str, EnvVar] = env_vars(Settings)

# Attribute name -> env suffix (``PINRELAY_<suffix>``), for code that lists the variables.
ENV_NAMES: dict[str, str] = {name: var.suffix for name, var in _VARS.items()}


def settings_table_markdown() -> str:
    """The README's configuration table, one row per variable, in declaration order."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{var.name}` | {var.shown_default()} | {var.meaning()} |" for var in _VARS.values()]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m worker.config --markdown")
    sys.stdout.write(settings_table_markdown())
