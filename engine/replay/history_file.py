"""A history file: the raw events and operator actions of a span as gzip'd JSON lines, so
a config repository's CI (which has no production database) can replay against it.

The first line says what the file is (`{"format": "opsconductor-history", "version": 1,
…}`); then one line per event (`"t": "event"`) or operator action (`"t": "operator"`), in
time order. Secrets are never in it: raw events carry none (a trap's community and a
webhook's headers are not stored), and any payload key that names a credential is masked
anyway. Device fields stay, since replay needs them.
"""
from __future__ import annotations

import gzip
import heapq
import json
import re

import orjson
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from ..errors import OpscError
from ..model import HistoryAction, RawEvent
from ..store.history import OPERATOR_ACTIONS, OperatorAction
from .simulate import HistoryItem, at_of

FORMAT, VERSION = "opsconductor-history", 1
MASK = "********"
CREDENTIAL = re.compile(r"pass|secret|token|community|authorization|api_?key|private", re.I)


class HistoryFileError(OpscError):
    """A history file that cannot be read; the message names the file and line."""


def merged(events: Iterable[RawEvent], actions: Iterable[OperatorAction]) -> Iterator[HistoryItem]:
    """Both streams (each in time order) as one, in time order."""
    return heapq.merge(events, actions, key=at_of)


def write_history(path: Path, items: Iterable[HistoryItem], *, since: datetime | None, until: datetime | None) -> int:
    """Write the items; returns how many were written."""
    count = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(json.dumps({"format": FORMAT, "version": VERSION, "from": _iso(since), "until": _iso(until)}) + "\n")
        for item in items:
            out.write(orjson.dumps(_line(item), default=str).decode() + "\n")
            count += 1
    return count


def read_history(path: Path, since: datetime | None = None, until: datetime | None = None) -> Iterator[HistoryItem]:
    """The items of a history file in [since, until); a bad line is an error naming it."""
    try:
        handle = gzip.open(path, "rt", encoding="utf-8")
        header = handle.readline()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise HistoryFileError(f"{path}: not a history file (gzip'd JSON lines): {exc}") from None
    with handle:
        head = _json(path, 1, header)
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            raise HistoryFileError(f"{path}:1: not an OpsConductor history file (no \"format\": \"{FORMAT}\")")
        if head.get("version") != VERSION:
            raise HistoryFileError(f"{path}:1: history format version {head.get('version')!r}; this opsc reads {VERSION}")
        for number, text in enumerate(handle, 2):
            item = _item(path, number, _json(path, number, text))
            at = at_of(item)
            if (since is None or at >= since) and (until is None or at < until):
                yield item


def _line(item: HistoryItem) -> dict[str, Any]:
    if isinstance(item, RawEvent):
        return {"t": "event", "at": item.received_at.isoformat(), "event_id": item.event_id, "connector": item.connector,
                "source_system": item.source_system, "source_address": item.source_address,
                "payload": scrub(item.payload)}
    return {"t": "operator", "at": item.at.isoformat(), "fingerprint": item.fingerprint, "action": item.action.value,
            "actor": item.actor, "note": item.note}


def scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: MASK if CREDENTIAL.search(str(k)) and isinstance(v, str) else scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


def _json(path: Path, number: int, text: str) -> Any:
    try:
        return orjson.loads(text)
    except ValueError as exc:
        raise HistoryFileError(f"{path}:{number}: not JSON ({exc})") from None


def _item(path: Path, number: int, doc: Any) -> HistoryItem:
    try:
        at = datetime.fromisoformat(doc["at"])
        if at.tzinfo is None:
            raise ValueError("a time without a zone")
        if doc["t"] == "event":
            return RawEvent(event_id=str(doc["event_id"]), connector=str(doc["connector"]),
                            source_system=str(doc["source_system"]), received_at=at,
                            source_address=doc.get("source_address"), payload=dict(doc["payload"]))
        if doc["t"] == "operator":
            action = HistoryAction(doc["action"])
            if action not in OPERATOR_ACTIONS:
                raise ValueError(f"an operator action is acknowledged or resolved, not {action.value!r}")
            return OperatorAction(at, str(doc["fingerprint"]), action, doc.get("actor"), doc.get("note"))
        raise ValueError(f"unknown line type {doc['t']!r}")
    except (KeyError, TypeError, ValueError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise HistoryFileError(f"{path}:{number}: {what}") from None


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
