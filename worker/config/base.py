"""How a table of ``PINRELAY_*`` variables is read, copied, shown and written back.

:class:`EnvSettings` is a frozen pydantic-settings class; :class:`worker.config.Settings` declares
the fields on it (with :func:`worker.config.types.env`) and the rules. Everything here is read off
those declarations, so the variable names, ``to_env``, the summary, the repr and the README table
cannot disagree with them:

* :meth:`~EnvSettings.from_env` reads a mapping (``os.environ`` by default) through the sources of
  :mod:`worker.config.sources` (the same ones ``Settings()`` reads, pydantic-settings' way), and
  turns pydantic's ``ValidationError`` into one :class:`~worker.errors.ConfigError` naming the
  first bad variable by its environment name.
* :meth:`~EnvSettings.replace` is a re-validated copy (``model_copy`` checks nothing).
* the repr, :meth:`~EnvSettings.summary` and :meth:`~EnvSettings.secret_values` hide secrets.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from typing import Any, Self

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from worker.config.sources import EnvironSource, RuntimeFileSource
from worker.config.types import EnvMeta, OneOf, redact_url
from worker.errors import ConfigError

__all__ = ["EnvSettings", "render"]


def render(value: Any) -> str:
    """A value as an environment variable spells it (what its type parses back to it)."""
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class EnvSettings(BaseSettings):
    """Frozen settings read from ``PINRELAY_*``; subclasses declare the fields."""

    # Fields are set by attribute name in code (``replace``) and by variable name from outside;
    # the defaults are trusted (checking them on every build would cost without finding anything).
    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, validate_by_name=True,
                                      validate_by_alias=True, extra="forbid", validate_default=False)

    @classmethod
    def sources(cls, environ: Mapping[str, str], *, runtime_file: bool) -> list[PydanticBaseSettingsSource]:
        """Where values come from after those passed in, highest first: the environment, then
        (``runtime_file``) the file a running ``pinrelay up`` leaves."""
        found: list[PydanticBaseSettingsSource] = [EnvironSource(cls, environ)]
        if runtime_file:
            found.append(RuntimeFileSource(cls, environ))
        return found

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """``Settings()``, pydantic-settings' own way: init values, then :meth:`sources` over
        ``os.environ`` (no ``.env`` file, no secrets directory)."""
        return (init_settings, *cls.sources(os.environ, runtime_file=True))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, runtime_file: bool | None = None) -> Self:
        """Read ``PINRELAY_*``; raise :class:`ConfigError` naming the first bad variable.

        ``runtime_file`` (read ``pinrelay up``'s runtime file after the environment) defaults to
        on for the process's own environment and off for a mapping passed in (a test's).
        """
        runtime = environ is None if runtime_file is None else runtime_file
        values: dict[str, Any] = {}
        for source in reversed(cls.sources(os.environ if environ is None else environ, runtime_file=runtime)):
            values.update(source())
        return cls._validated(values)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (by attribute name), validated and checked like the original."""
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            raise TypeError(f"no such setting: {', '.join(unknown)}")
        return type(self)._validated({**dict(self), **changes})

    @classmethod
    def _validated(cls, values: dict[str, Any]) -> Self:
        """Settings from ``values`` alone: pydantic's validation and the model's rules.

        What ``BaseSettings.__init__`` does once it has merged its sources; from_env merged
        :meth:`sources` itself, since building pydantic-settings' five default sources costs
        more (about 0.2 ms a call for this many fields) than the whole rest.
        """
        settings = cls.__new__(cls)
        try:
            BaseModel.__init__(settings, **values)
        except ValidationError as exc:
            raise cls._config_error(exc) from None
        return settings

    @classmethod
    def _config_error(cls, exc: ValidationError) -> ConfigError:
        """The first error, one line: ``PINRELAY_X='value' must be ...`` (a secret's value never shown)."""
        error = exc.errors(include_url=False)[0]
        cause = error.get("ctx", {}).get("error")
        phrase = str(cause) if error["type"] == "value_error" and cause is not None else error["msg"]
        meta = cls.env_meta().get(str(error["loc"][0]) if error["loc"] else "")
        if meta is None:
            return ConfigError(phrase)
        if meta.secret:
            return ConfigError(f"{meta.name} {phrase}")
        shown = error["input"]
        return ConfigError(f"{meta.name}={redact_url(shown) if isinstance(shown, str) else shown!r} {phrase}")

    @classmethod
    def env_meta(cls) -> dict[str, EnvMeta]:
        """Attribute name -> its variable and display flags, in declaration order."""
        return _env_meta(cls)

    def _shown(self, hidden: str) -> Iterator[tuple[str, EnvMeta, Any]]:
        for name, meta in self.env_meta().items():
            value = getattr(self, name)
            if meta.secret and value:
                value = hidden
            elif meta.redact and value:
                value = redact_url(value)
            yield name, meta, value

    def __repr_args__(self) -> Iterator[tuple[str, Any]]:
        return ((name, value) for name, _, value in self._shown("***"))

    def __str__(self) -> str:
        return repr(self)

    def summary(self) -> dict[str, object]:
        """Every setting by its variable's name, secrets hidden and URL passwords masked: the
        `ready` log event carries it, so an operator sees what a process really runs with."""
        return {meta.name: list(value) if isinstance(value, tuple) else value
                for _, meta, value in self._shown("[redacted]")}

    def secret_values(self) -> tuple[str, ...]:
        """Every secret these settings hold, for the log redactor."""
        return tuple(value for name, meta in sorted(self.env_meta().items())
                     if meta.secret and (value := getattr(self, name)))

    def to_env(self) -> dict[str, str]:
        """The ``PINRELAY_*`` variables that rebuild these settings in a child process."""
        return {meta.name: render(value) for name, meta in self.env_meta().items()
                if (value := getattr(self, name)) is not None}

    @classmethod
    def table_markdown(cls) -> str:
        """The README's configuration table, one row per variable, in declaration order."""
        rows = ["| variable | default | meaning |", "|---|---|---|"]
        for name, meta in cls.env_meta().items():
            field = cls.model_fields[name]
            shown = meta.shown or ("unset" if field.default is None else f"`{render(field.default)}`")
            meaning = field.description or ""
            choices = next((m.options for m in field.metadata if isinstance(m, OneOf)), ())
            if choices:
                meaning += ": " + ", ".join(f"`{choice}`" for choice in choices)
            rows.append(f"| `{meta.name}` | {shown} | {meaning} |")
        return "\n".join(rows) + "\n"


@functools.cache
def _env_meta(cls: type[EnvSettings]) -> dict[str, EnvMeta]:
    return {name: meta for name, field in cls.model_fields.items() if (meta := EnvMeta.of(field))}
