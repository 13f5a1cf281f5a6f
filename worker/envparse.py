"""Parsing and validating one environment value each, with an error that names the variable.

:meth:`worker.config.Settings.from_env` is a table of ``PINRELAY_*`` names, defaults and
the parsers here. They live apart so that table stays readable, and so every parser has
the same shape, ``(name, value) -> parsed``: whatever it rejects becomes one
:class:`ConfigError` that says which variable is wrong, reported once at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from worker.errors import ConfigError

T = TypeVar("T")

__all__ = [
    # reading
    "EnvReader",
    # parsers: (name, value) -> parsed value, ConfigError on a bad value
    "nonempty",
    "lower",
    "upper",
    "url_with_scheme",
    "http_url",
    "pos_float",
    "nonneg_float",
    "pos_int",
    "nonneg_int",
    "flag",
    "regions",
    # helpers
    "redact_url",
]


class EnvReader:
    """Looks up ``PINRELAY_<suffix>`` and runs one parser on it.

    Unset and blank both mean "use the default", so a compose file can leave a variable
    empty. A parser's plain ``ValueError`` (``int("x")``) is re-raised as a
    :class:`ConfigError` carrying the variable's name and raw value.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def get(self, suffix: str, default: T, parse: Callable[[str, str], Any]) -> T:
        """The parsed value, or ``default`` when the variable is unset or blank."""
        value = self.opt(suffix, parse)
        return default if value is None else value

    def opt(self, suffix: str, parse: Callable[[str, str], Any]) -> Any:
        """The parsed value, or ``None`` when the variable is unset or blank."""
        name = f"PINRELAY_{suffix}"
        raw = self._env.get(name)
        if raw is None or raw.strip() == "":
            return None
        try:
            return parse(name, raw.strip())
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r}: {exc}") from None


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and reprs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def nonempty(name: str, value: str) -> str:
    """The value as is: :class:`EnvReader` has already turned blank into "unset"."""
    return value


def lower(name: str, value: str) -> str:
    """Case-insensitive choices (pool, log format, signature method); the dataclass checks the choice."""
    return value.lower()


def upper(name: str, value: str) -> str:
    """Log levels, which the logging module spells in capitals."""
    return value.upper()


def url_with_scheme(name: str, value: str, schemes: tuple[str, ...]) -> str:
    """A URL whose scheme is one of ``schemes``; HTTP ones lose a trailing slash.

    The slash goes because endpoint paths are appended to HTTP base URLs. A rejected
    value is shown with its password redacted, since the message goes to logs.
    """
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ConfigError(f"{name}={redact_url(value)!r} is not a URL with scheme {'/'.join(schemes)}")
    return value.rstrip("/") if parts.scheme.startswith("http") else value


def http_url(name: str, value: str) -> str:
    """A base URL for the provider's HTTP APIs."""
    return url_with_scheme(name, value, ("http", "https"))


def pos_float(name: str, value: str) -> float:
    """Timeouts and delays, where zero would mean "never wait" or "spin"."""
    number = float(value)
    if not number > 0:
        raise ConfigError(f"{name}={value!r} must be a positive number")
    return number


def nonneg_float(name: str, value: str) -> float:
    """Rates where zero is meaningful (it switches the limit off)."""
    number = float(value)
    if number < 0:
        raise ConfigError(f"{name}={value!r} must be zero or positive")
    return number


def pos_int(name: str, value: str) -> int:
    """Counts, sizes and TTLs that must be at least one."""
    number = int(value)
    if number <= 0:
        raise ConfigError(f"{name}={value!r} must be a positive whole number")
    return number


def nonneg_int(name: str, value: str) -> int:
    """Limits and ports where zero means "off"."""
    number = int(value)
    if number < 0:
        raise ConfigError(f"{name}={value!r} must be zero or a positive whole number")
    return number


def flag(name: str, value: str) -> bool:
    """An on/off switch; anything but the usual spellings is an error, not "false"."""
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} must be true or false")


def regions(name: str, value: str) -> tuple[str, ...]:
    """Comma-separated ISO 3166 alpha-2 codes, upper-cased, for phone-number parsing."""
    codes = tuple(part.strip().upper() for part in value.split(",") if part.strip())
    if not codes or any(len(r) != 2 or not r.isalpha() for r in codes):
        raise ConfigError(f"{name}={value!r} must be ISO country codes such as US,CA")
    return codes
