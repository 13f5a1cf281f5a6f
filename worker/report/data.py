"""The report as plain data: what ``--json`` prints and what the HTML tables show.

One place turns a :class:`~worker.report.summary.Summary` into rows, so the page a
person reads and the JSON a machine reads cannot disagree. Each state carries its
*meaning* (``good``, ``bad``, ``doubt``, ``in_flight``), which the page colours:
delivered green; failed, rejected and error red; expired, unknown and unconfirmed
amber (the PIN may or may not have arrived); everything still moving grey.
"""

from __future__ import annotations

from typing import Any, Final

from worker.report.summary import ERR_CODES, HEADLINE, QUANTILES, Summary
from worker.states import State
from worker.stats import percentile

MEANINGS: Final = {
    State.DELIVERED.value: "good",
    State.FAILED.value: "bad", State.REJECTED.value: "bad", State.ERROR.value: "bad",
    State.EXPIRED_BEFORE_SEND.value: "bad",
    State.EXPIRED.value: "doubt", State.UNKNOWN.value: "doubt", State.UNCONFIRMED.value: "doubt",
}
MEANING_TEXT: Final = {"good": "delivered", "bad": "not delivered", "doubt": "outcome uncertain",
                       "in_flight": "still in flight"}
NETWORK_STATES: Final = ("delivered", "failed", "expired", "rejected", "unknown")
CARRIER_NOTE: Final = (
    "Networks are the receipt's network-code (MCCMNC, ITU-T E.212). No well-maintained Python "
    "package maps MCCMNC to operator names (phonenumbers' carrier data is keyed by number, not "
    "MCCMNC), so codes are shown as they are; look them up in the ITU-T E.212 list."
)


def meaning(state: str) -> str:
    """``good``, ``bad``, ``doubt`` or ``in_flight`` (any state not final or settled)."""
    return MEANINGS.get(state, "in_flight")


def err_code_label(code: str) -> str:
    """The full meaning of a DLR err-code (docs/provider-api.md §4); unknown codes say so."""
    return ERR_CODES.get(code, "undocumented code (counts as a permanent failure)")


def state_rows(summary: Summary) -> list[dict[str, Any]]:
    """One row per state: the headline states even at zero, then any other state seen."""
    rows = []
    for state in summary.ordered_states():
        if state not in HEADLINE and not summary.states[state]:
            continue
        rows.append({"state": state, "count": summary.states[state], "rate": summary.rate(state),
                     "meaning": meaning(state)})
    return rows


def latency_rows(summary: Summary) -> list[dict[str, Any]]:
    """p50/p90/p99/max in milliseconds (None without samples) of the two stages."""
    rows = []
    for name, values in (("enqueue -> submitted", summary.to_submit),
                         ("submitted -> receipt", summary.to_receipt)):
        cells = {f"p{q}_ms": _ms(percentile(values, q)) for q in QUANTILES}
        rows.append({"stage": name, "n": len(values), **cells, "max_ms": _ms(percentile(values, 100))})
    return rows


def network_rows(summary: Summary) -> list[dict[str, Any]]:
    """Receipts per network (MCCMNC), most receipts first, with the delivered share."""
    rows = []
    for network, states in sorted(summary.by_network.items(), key=lambda kv: (-kv[1].total(), kv[0])):
        total = states.total()
        rows.append({"network": network, "carrier": None, "receipts": total,
                     "delivered_rate": states["delivered"] / total if total else 0.0,
                     **{s: states[s] for s in NETWORK_STATES}})
    return rows


def err_code_rows(summary: Summary) -> list[dict[str, Any]]:
    """Receipts per err-code with its full label and the states they ended in."""
    receipts = sum(s.total() for s in summary.by_err_code.values()) or 1
    return [{"err_code": code, "meaning": err_code_label(code), "count": states.total(),
             "share": states.total() / receipts, "states": dict(states.most_common())}
            for code, states in sorted(summary.by_err_code.items(),
                                       key=lambda kv: (-kv[1].total(), kv[0]))]


def as_dict(summary: Summary, *, title: str, since: float | None, at: float, prefix: str) -> dict[str, Any]:
    """The whole report for ``--json``: times as unix seconds, rates as fractions 0..1."""
    return {
        "title": title,
        "generated_at": at,
        "since": since,
        "key_prefix": prefix,
        "total": summary.total,
        "states": state_rows(summary),
        "latency": latency_rows(summary),
        "networks": network_rows(summary),
        "err_codes": err_code_rows(summary),
        "provider_status_of_failed_sends": dict(summary.by_provider_status.most_common()),
        "conversion": {"reported_delivered": summary.converted, "rate": summary.conversion_rate},
        "notes": [CARRIER_NOTE],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
