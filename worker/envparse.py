"""Parsing and validating one environment value each, with an error that names the variable.

:class:`worker.config.Settings` is a table of fields, each declared with :func:`setting`:
its ``PINRELAY_*`` suffix, parser, default and doc travel in the field's metadata as an
:class:`EnvVar`, so ``from_env``, ``to_env``, the list of names and the README table are
all read off one declaration. The parsers live here so that table stays readable, and so
every parser has the same shape, ``(name, value) -> parsed``: whatever it rejects becomes
one :class:`ConfigError` that says which variable is wrong, reported once at start-up.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

from worker.errors import ConfigError

T = TypeVar("T")
Parser = Callable[[str, str], Any]
EnvDefault = Callable[[Mapping[str, str]], Any]

__all__ = [
    # declaring and reading
    "EnvVar",
    "setting",
    "env_vars",
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
    "host_ports",
    "readable_file",
    # helpers
    "render",
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


@dataclasses.dataclass(frozen=True, slots=True)
class EnvVar:
    """One ``PINRELAY_<suffix>`` variable: how it is parsed, defaulted, shown and documented.

    ``factory`` is for defaults that depend on the machine or the environment (the CPU
    count, the XDG state directory); ``shown`` is how the README spells a default that
    is not a literal (or a ``None`` that means something). ``choices`` are checked by the
    dataclass itself, so a ``replace()`` cannot slip an invalid value past ``from_env``.
    """

    suffix: str
    parse: Parser
    doc: str
    default: Any = None
    factory: EnvDefault | None = None
    shown: str | None = None
    secret: bool = False  # hidden in repr, handed to the log redactor
    redact: bool = False  # a URL whose password is hidden in repr
    choices: tuple[str, ...] = ()
    choices_text: str = ""  # "is not <this>" in the error; default "one of a, b, c"

    @property
    def name(self) -> str:
        return f"PINRELAY_{self.suffix}"

    def default_for(self, env: Mapping[str, str]) -> Any:
        return self.default if self.factory is None else self.factory(env)

    def read(self, env: Mapping[str, str]) -> Any:
        """The parsed value of this variable in ``env``, or its default when unset or blank."""
        value = EnvReader(env).opt(self.suffix, self.parse)
        return self.default_for(env) if value is None else value

    def check(self, value: Any) -> None:
        """Refuse a value outside ``choices``, naming the variable."""
        if self.choices and value not in self.choices:
            allowed = self.choices_text or f"one of {', '.join(self.choices)}"
            raise ConfigError(f"{self.name}={value!r} is not {allowed}")

    def shown_default(self) -> str:
        """The default as the README's configuration table spells it."""
        if self.shown is not None:
            return self.shown
        return "unset" if self.default is None else f"`{render(self.default)}`"

    def meaning(self) -> str:
        if not self.choices:
            return self.doc
        return f"{self.doc}: {', '.join(f'`{choice}`' for choice in self.choices)}"


@overload
def setting(suffix: str, parse: Callable[[str, str], T], doc: str, *, default: T,
            shown: str | None = ..., secret: bool = ..., redact: bool = ...,
            choices: tuple[str, ...] = ..., choices_text: str = ...) -> T: ...
@overload
def setting(suffix: str, parse: Callable[[str, str], T], doc: str, *,
            factory: Callable[[Mapping[str, str]], T], shown: str) -> T: ...
def setting(suffix: str, parse: Parser, doc: str, *, default: Any = None,
            factory: EnvDefault | None = None, shown: str | None = None, secret: bool = False,
            redact: bool = False, choices: tuple[str, ...] = (), choices_text: str = "") -> Any:
    """A dataclass field read from ``PINRELAY_<suffix>``; typed as its default, for mypy.

    A ``factory`` default is computed from ``os.environ`` when the dataclass is built
    directly, and from the mapping given to ``from_env`` otherwise, so both agree.
    """
    var = EnvVar(suffix, parse, doc, default, factory, shown, secret, redact, choices, choices_text)
    metadata = {"env": var}
    if factory is None:
        return dataclasses.field(default=default, metadata=metadata)
    return dataclasses.field(default_factory=lambda: factory(os.environ), metadata=metadata)


def env_vars(cls: Any) -> dict[str, EnvVar]:
    """Attribute name -> :class:`EnvVar` for every field of a dataclass declared with :func:`setting`."""
    return {f.name: f.metadata["env"] for f in dataclasses.fields(cls) if "env" in f.metadata}


def render(value: Any) -> str:
    """A value as an environment variable spells it (the inverse of its parser)."""
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and reprs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def is_loopback_url(url: str) -> bool:
    """True for a URL whose host is on this machine: 127.0.0.0/8, ``::1`` or ``localhost``."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def host_ports(name: str, value: str) -> tuple[str, ...]:
    """Comma-separated ``host:port`` pairs (Redis Sentinels); IPv6 hosts in brackets."""
    items = tuple(part.strip() for part in value.split(",") if part.strip())
    for item in items:
        host, colon, port = item.rpartition(":")
        bare = host.removeprefix("[").removesuffix("]")
        if not colon or not bare or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name}={value!r} must be host:port pairs such as 10.0.0.5:26379,"
                              "10.0.0.6:26379")
    if not items:
        raise ConfigError(f"{name}={value!r} must name at least one host:port")
    return items


def readable_file(name: str, value: str) -> str:
    """A file that must exist and be readable now (a CA bundle): a typo fails at start-up,
    not as a TLS error at the first connection."""
    if not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise ConfigError(f"{name}={value!r} is not a readable file")
    return value
