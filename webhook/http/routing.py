"""Route tables: which endpoint a (path, method) reaches, or the 404 / 405 answer.

An app declares its table once, as data: ``(path, {method: Endpoint})`` rows, where a path
is exact (``/healthz``) or a template with ``{name}`` parts (``/v1/pins/{id}``; a part is
1-64 of ``A-Za-z0-9_-``). Adding a route is one row and a handler. Exact paths are looked up
in a dict and their matches are built once, so the receipt path costs no allocation;
templates are tried in table order. With ``trailing_slash`` (the receiver) ``/path/`` reaches
``/path``, so a dashboard typo does not lose receipts; the API keeps paths exact.

Each match carries the label the app's request counter uses: ``"POST /v1/pins/{id}"`` for an
endpoint, the path for a 405, ``"unmatched"`` for a 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from .answers import Answer

PARAM: Final = "[A-Za-z0-9_-]{1,64}"
_TEMPLATE_PART: Final = re.compile(r"\{([a-z_]+)\}")
NO_PARAMS: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A handler and how the core runs it.

    ``handler(request)`` is a coroutine function, run on the event loop (it must not block),
    unless ``blocking``: then it is a plain function (Redis, the producer, the verifier) that
    runs on the core's thread pool, and with ``body`` the core reads the body first, on the
    loop under its deadline, so a slow client never holds a thread. ``body_limit`` replaces the
    app's limit for this endpoint (0: the app's).
    """

    handler: Callable[..., Any]
    blocking: bool = False
    body: bool = False
    body_limit: int = 0


class Match:
    """Where a request goes: an ``endpoint`` with its path ``params``, or the ``answer`` itself."""

    __slots__ = ("answer", "endpoint", "label", "params")

    def __init__(self, label: str, endpoint: Endpoint | None = None, *, answer: Answer | None = None,
                 params: Mapping[str, str] = NO_PARAMS) -> None:
        self.label = label
        self.endpoint = endpoint
        self.answer = answer
        self.params = params


Table = Sequence[tuple[str, Mapping[str, Endpoint]]]


class Router:
    """``resolve(path, method)`` over one app's table."""

    def __init__(self, table: Table, *, not_found: Answer, not_allowed: Callable[[str], Answer],
                 trailing_slash: bool = False) -> None:
        self._trailing_slash = trailing_slash
        self._not_found = Match("unmatched", answer=not_found)
        self._exact: dict[str, dict[str, Match]] = {}
        self._refused: dict[str, Match] = {}  # the 405 of each path or template
        self._templates: list[tuple[re.Pattern[str], str, dict[str, Endpoint]]] = []
        for path, methods in table:
            allow = ", ".join(methods)
            self._refused[path] = Match(path, answer=not_allowed(allow))
            if _TEMPLATE_PART.search(path):
                pattern = re.compile(_TEMPLATE_PART.sub(lambda m: f"(?P<{m[1]}>{PARAM})", path))
                self._templates.append((pattern, path, dict(methods)))
            else:
                self._exact[path] = {method: Match(f"{method} {path}", endpoint)
                                     for method, endpoint in methods.items()}

    def resolve(self, path: str, method: str) -> Match:
        methods = self._exact.get(path)
        if methods is None and self._trailing_slash and len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
            methods = self._exact.get(path)
        if methods is not None:
            return methods.get(method) or self._refused[path]
        for pattern, template, endpoints in self._templates:
            found = pattern.fullmatch(path)
            if found is not None:
                endpoint = endpoints.get(method)
                if endpoint is None:
                    return self._refused[template]
                return Match(f"{method} {template}", endpoint, params=found.groupdict())
        return self._not_found
