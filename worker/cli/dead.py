"""`pinrelay dead list|show|replay|apply|purge`: what needs a person's decision, from a shell.

``apply receipts [ID]`` puts held receipts (``late_signature``: signed right but older than the
signature window, docs/provider-routes.md §G) on the receipt stream for the correlator; every
one without an ID, else those whose id or message-id it is."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from worker.cli import common
from worker.records.deadletters import DeadLetters


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("dead", help="inspect and replay dead letters")
    p.add_argument("action", choices=["list", "show", "replay", "apply", "purge"], help="what to do")
    p.add_argument("kind", nargs="?", default="sends", choices=["sends", "receipts", "tasks"],
                   help="which dead letters")
    p.add_argument("id", nargs="?", help="the dead letter (show, replay)")
    p.set_defaults(func=run_dead)


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _apply(dead: DeadLetters, kind: str, ident: str | None) -> int:
    """`pinrelay dead apply receipts [ID]`: held receipts onto the stream; 1 when ID held none."""
    if kind != "receipts":
        print("pinrelay dead apply: only held receipts can be applied (`pinrelay dead apply receipts`)")
        return 2
    applied = dead.apply_held(ident)
    if ident is not None and not applied:
        print(f"pinrelay dead apply: no held receipt {ident!r} (see `pinrelay dead list receipts`)")
        return 1
    print(json.dumps({"applied": applied, "count": len(applied)}))
    return 0


def run_dead(args: argparse.Namespace, producer: Any = None) -> int:
    producer = producer or common.producer()
    """`pinrelay dead list|show|replay|purge [sends|receipts|tasks] [ID]`."""
    dead = DeadLetters(producer.redis, producer.settings.key_prefix)
    kind, action = args.kind, args.action
    if action == "list":
        if kind == "receipts":  # the newest 100: id, time, why it was not applied, message-id
            found = [{"id": r["id"], "at": _iso(r["at"]), "reason": r["reason"],
                      "message_id": r["message_id"]} for r in dead.receipts()]
            print(json.dumps(found, indent=2))
            return 0
        rows = []
        for member, at in dead.list(kind):
            row: dict[str, Any] = {"id": member, "at": _iso(at)}
            if kind == "sends":
                raw = producer.store.get_raw(member)
                row.update(state=raw.get("state"), error_text=raw.get("error_text"),
                           replayed_as=raw.get("replayed_as"))
            rows.append(row)
        print(json.dumps(rows, indent=2))
        return 0
    if action == "purge":
        print(json.dumps({"purged": dead.purge(kind), "kind": kind}))
        return 0
    if action == "apply":
        return _apply(dead, kind, args.id)
    if not args.id:
        print(f"pinrelay dead {action}: give the id (see `pinrelay dead list {kind}`)")
        return 2
    if action == "show":
        shown = producer.store.get(args.id) if kind == "sends" else dead.detail(kind, args.id)
        if shown is None:
            print(f"pinrelay dead show: no {kind} dead letter {args.id!r}")
            return 1
        print(json.dumps(shown, indent=2))
        return 0
    # replay
    if kind != "sends":
        print("pinrelay dead replay: only sends can be replayed; receipts and tasks are kept "
              "for inspection (purge them when handled)")
        return 2
    verdict, value = producer.store.replay(args.id)
    if verdict != "ok":
        reasons = {"missing": "no such request", "not_dead": f"the send is {value}, not error/unconfirmed",
                   "already": f"already replayed as {value}",
                   "expired": "the PIN expired; ask the user to request a new one",
                   "verification": "a verification send cannot be replayed; resend the verification "
                                   f"(`pinrelay verify resend {value}`)"}
        print(f"pinrelay dead replay: {reasons.get(verdict, verdict)}")
        return 1
    try:
        producer.publish(value)
    except Exception:
        producer.store.undo_replay(args.id, value)
        raise
    producer.store.replay_published(args.id)
    dead.remove("sends", args.id)
    print(json.dumps({"replayed": args.id, "id": value}))
    return 0
