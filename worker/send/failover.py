"""The failover table: what one failed attempt means for the send and for its route's breaker.

Whose fault a failure is comes from the route (:class:`~worker.send.routes.base.Blame`);
what to do about it is decided here and nowhere else, so the README's table is this
function:

=============  ===========================  ===============================  ===========
blame          the send                     the next attempt                 breaker
=============  ===========================  ===============================  ===========
number         ends in ``error``            none (no route can help)         ok
destination    back to ``queued``; ends in  the next route that has not      ok
               ``error`` when every route   refused it, at once; this route
               refused it                   never again for this send
country        as destination               as destination                   ok; and the
                                                                             (route,
                                                                             country)
                                                                             breaker counts
                                                                             a run
request        ends in ``error``            none (as before routes)          (nothing)
unconfirmed    ends ``unconfirmed``         none, anywhere: the PIN may be   transient
                                            out
route          back to ``queued``           the next route, at once; none    opens at
                                            usable: waits in ``queued``      once
transient      back to ``queued``           the next route at once if there  a run opens
                                            is one, else backoff, same order it
throttled      back to ``queued``           the same route after its wait;   (nothing)
                                            after THROTTLE_BUDGET in a row,
                                            as transient
accepted       ``submitted``                none                             ok
=============  ===========================  ===============================  ===========

An answer about one destination never opens the route's breaker (issue 23 finding 1): a
hostile or unlucky number would otherwise hold every send for the cooldown, and become the
half-open probe that opens it again. A country-level one (``country``) opens at most the
breaker of (route, that country), after :data:`~worker.send.routes.base.COUNTRY_RUN` in a row.

Opt-outs (2FA 102, Twilio 21610) also put the number on that route's denylist; a send
to a denylisted number ends without a call on *any* route, because another sender does
not make a STOP go away (docs/provider-routes.md §C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from worker.send.routes.base import THROTTLE_BUDGET, Blame

OPT_OUT_CODES: Final = frozenset({"102", "21610"})


@dataclass(frozen=True, slots=True)
class Step:
    """The decision for one failed attempt."""

    ends: bool  # the send is over (error or unconfirmed)
    move: bool  # the next attempt starts after this route (else: this route first)
    at_once: bool  # ... without the backoff wait
    breaker: str  # what the route's breaker hears: ok | route | transient | "" (nothing)
    deny: bool = False  # put the number on the route's denylist


def step_for(blame: Blame, code: str, *, has_next: bool, throttled_in_a_row: int = 1) -> Step:
    """The row of the table for ``blame``; ``has_next``: a route follows this one in the order
    (for ``destination``/``country``: a route that has not refused this send's destination)."""
    if blame is Blame.NUMBER:
        return Step(ends=True, move=False, at_once=False, breaker="ok", deny=code in OPT_OUT_CODES)
    if blame in (Blame.DESTINATION, Blame.COUNTRY):
        return Step(ends=not has_next, move=True, at_once=True, breaker="ok")
    if blame is Blame.REQUEST:
        return Step(ends=True, move=False, at_once=False, breaker="")
    if blame is Blame.UNCONFIRMED:
        return Step(ends=True, move=False, at_once=False, breaker="transient")
    if blame is Blame.ROUTE:
        return Step(ends=False, move=True, at_once=True, breaker="route")
    if blame is Blame.THROTTLED and throttled_in_a_row < THROTTLE_BUDGET:
        return Step(ends=False, move=False, at_once=False, breaker="")
    breaker = "" if blame is Blame.THROTTLED else "transient"
    return Step(ends=False, move=True, at_once=has_next, breaker=breaker)
