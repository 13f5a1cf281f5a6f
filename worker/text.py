"""Redis replies as text: one helper instead of a ``.decode()`` in every module.

Clients are built without ``decode_responses`` (the hot paths compare and forward
bytes), so code that needs a reply as ``str`` calls :func:`to_text`. Foundation
module: imports nothing, so pure modules such as :mod:`worker.records.view` can use it.
"""

from __future__ import annotations

__all__ = ["to_text"]


def to_text(value: object) -> str:
    """``value`` as ``str``: bytes decoded as UTF-8, a ``str`` as is, anything else via ``str()``."""
    return value.decode() if isinstance(value, bytes) else str(value)
