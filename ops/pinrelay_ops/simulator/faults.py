"""Fault specs: the small language of scripted and random misbehaviour.

A spec is ``KIND[:ARG][*COUNT]``; ``COUNT`` repeats it in a script:

=================  ==================================================================
``status:N``       the route's own error N: Vonage HTTP 200 with JSON ``status`` N (``1``
                   carries the throttle wait text); Twilio the error JSON with ``code`` N
                   and its HTTP status (400 unless the code says 401/404/429/5xx)
``auth``           the route's credentials error: Vonage status 4, Twilio HTTP 401 code 20003
``http:N``         HTTP N (e.g. 500, 503) with a short plain-text body
``429[:S]``        HTTP 429 with ``Retry-After: S`` (default 1 second; Twilio: its 20429 JSON)
``hang:S``         wait S seconds, then process and answer normally (the PIN *is* sent)
``close``          close the connection without answering; nothing is sent
``close:sent``     process the send (PIN sent, DLR fired), then close without answering
``garbage``        HTTP 200 ``text/html`` body, as a misbehaving proxy would
=================  ==================================================================

``hang`` and ``close:sent`` are the cases where a client cannot know whether
the PIN went out, which is exactly what a careful client must get right.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from .errors import FaultSpecError

KINDS: Final = ("status", "auth", "http", "429", "hang", "close", "garbage")
_MAX_REPEAT: Final = 100_000


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed fault; ``arg`` is already checked for its kind."""

    kind: str
    arg: str = ""

    @property
    def spec(self) -> str:
        """The canonical spec text, used as the key in stats."""
        return f"{self.kind}:{self.arg}" if self.arg else self.kind

    @property
    def processes_send(self) -> bool:
        """Whether the send is still carried out (PIN sent) despite the fault."""
        return self.kind == "hang" or (self.kind == "close" and self.arg == "sent")


def parse(spec: str) -> tuple[Fault, int]:
    """``"http:503*3"`` -> ``(Fault("http", "503"), 3)``; raises FaultSpecError."""
    text = str(spec).strip()
    count = 1
    if "*" in text:
        text, _, times = text.partition("*")
        if not times.isdigit() or not 0 < int(times) <= _MAX_REPEAT:
            raise FaultSpecError(f"fault {spec!r}: repeat count must be 1..{_MAX_REPEAT}")
        count = int(times)
    kind, _, arg = text.partition(":")
    return _checked(spec, kind.strip().lower(), arg.strip().lower()), count


def _checked(spec: str, kind: str, arg: str) -> Fault:
    if kind == "status":
        if not arg.isdigit():
            raise FaultSpecError(f"fault {spec!r}: status needs a numeric code, e.g. status:5")
        return Fault(kind, str(int(arg)))
    if kind == "http":
        if not arg.isdigit() or not 100 <= int(arg) <= 599:
            raise FaultSpecError(f"fault {spec!r}: http needs a status 100..599, e.g. http:503")
        return Fault(kind, arg)
    if kind in ("429", "hang"):
        arg = arg or ("1" if kind == "429" else "")
        try:
            seconds = float(arg)
        except ValueError:
            raise FaultSpecError(f"fault {spec!r}: {kind} needs seconds, e.g. {kind}:2") from None
        if not 0 <= seconds <= 3600:
            raise FaultSpecError(f"fault {spec!r}: seconds must be 0..3600")
        return Fault(kind, arg)
    if kind == "close" and arg in ("", "sent"):
        return Fault(kind, arg)
    if kind in ("garbage", "auth") and not arg:
        return Fault(kind)
    raise FaultSpecError(f"fault {spec!r}: unknown; kinds are {', '.join(KINDS)}")


def expand(specs: Iterable[str]) -> list[Fault]:
    """A script as the list of faults it will answer with, in order."""
    faults: list[Fault] = []
    for spec in specs:
        fault, count = parse(spec)
        faults.extend([fault] * count)
    return faults


def check_rates(rates: Mapping[str, float]) -> dict[str, float]:
    """Validate ``error_rates``: known specs, each rate 0..1, sum at most 1."""
    checked: dict[str, float] = {}
    for spec, rate in rates.items():
        fault, count = parse(spec)
        if count != 1:
            raise FaultSpecError(f"error_rates key {spec!r}: no repeat count here")
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise FaultSpecError(f"error_rates[{spec!r}] = {rate!r}: must be a number 0..1")
        checked[fault.spec] = float(rate)
    if sum(checked.values()) > 1.0 + 1e-9:
        raise FaultSpecError(f"error_rates sum to {sum(checked.values()):.3f}; must be <= 1")
    return checked


def pick(rates: Mapping[str, float], rng: random.Random) -> Fault | None:
    """One draw: a fault with its probability, or None (answer normally)."""
    if not rates:
        return None
    draw = rng.random()
    for spec, rate in rates.items():
        if draw < rate:
            return parse(spec)[0]
        draw -= rate
    return None


def check_number_faults(value: Mapping[str, str]) -> dict[str, str]:
    """``number -> spec`` checked: digits, and one fault each (no ``*COUNT``); raises FaultSpecError."""
    checked: dict[str, str] = {}
    for number, spec in value.items():
        digits = str(number).removeprefix("+")
        if not digits.isdigit():
            raise FaultSpecError(f"number_faults: {number!r} is not a number (digits, optional '+')")
        fault, count = parse(str(spec))
        if count != 1:
            raise FaultSpecError(f"number_faults: {spec!r} for {number}: one fault, no '*count'")
        checked[digits] = fault.spec
    return checked
