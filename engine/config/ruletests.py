"""Checks of rule tests beyond their schema: one input per step, time that only moves
forward, references to connectors, channels, rules and silences that exist."""
from __future__ import annotations

import difflib
from typing import Any, Callable, Iterable

from ..connectors import catalog
from ..errors import Level, Problem
from .bundle import Bundle, RuleTest, Source
from .durations import parse_duration

STEP_KINDS = ("trap", "webhook", "poll", "payload", "alert", "acknowledge", "resolve", "silence", "end_silence",
              "restart")
TRAP_FIELDS = {"v1": ("enterprise", "agent_addr", "generic_trap", "specific_trap", "timestamp"),
               "v3": ("user", "engine_id", "inform")}

Locate = Callable[..., Source]


def _step_types(kind: str) -> set[str]:
    """The connector types a `trap:`, `webhook:` or `poll:` step may name: a trap goes through the
    trap receiver, a webhook body through an inbound endpoint, a poll answer through a poller."""
    if kind == "poll":
        return {t.name for t in catalog.all_types() if t.polled}
    role = "receiver" if kind == "trap" else "endpoint"
    return {t.name for t in catalog.all_types() if getattr(t, role) is not None}


def _p(at: Source, message: str, hint: str | None = None) -> Problem:
    return Problem(at.file, at.line, at.col, at.path, message, hint, Level.ERROR)


def _known(name: str, known: Iterable[str], what: str) -> str:
    guess = difflib.get_close_matches(str(name), list(known), n=1)  # str: a fuzzed name can be a Secret
    return f"did you mean {guess[0]!r}?" if guess else f"define the {what}, or fix the name"


def test_problems(bundle: Bundle, locate: Locate) -> list[Problem]:
    out: list[Problem] = []
    for t in bundle.tests:
        out += _steps(t, bundle, locate)
        out += _expectations(t, bundle, locate)
    return out


def _steps(t: RuleTest, bundle: Bundle, locate: Locate) -> list[Problem]:
    out: list[Problem] = []
    connectors = {c.name: c for c in bundle.connectors}
    last, last_at, silences = 0.0, "0s", set()
    for i, event in enumerate(t.events):
        at = locate(t.source, "events", i)
        if "at" in event:
            seconds = parse_duration(event["at"])
            if seconds < last:
                out.append(_p(locate(t.source, "events", i, "at"),
                              f"`at: {event['at']}` goes back in time: the step before is at {last_at}",
                              hint="steps run in time order; give them in that order"))
            last, last_at = max(last, seconds), event["at"]
        kinds = [k for k in STEP_KINDS if k in event]
        if len(kinds) > 1 or ("payload" in event) != ("connector" in event):
            out.append(_p(at, f"a step is one of: {', '.join(k for k in STEP_KINDS if k != 'payload')}; "
                              "connector + payload; or only `at` (time passes)"))
            continue
        kind = kinds[0] if kinds else None
        name, wanted = None, None
        if kind in ("trap", "webhook", "poll"):
            name = event[kind].get("connector")
            wanted = _step_types(kind)
        elif kind == "payload":
            name = event["connector"]
        if name and name not in connectors:
            out.append(_p(at, f"test {t.name!r} uses unknown connector {name!r}", hint=_known(name, connectors, "connector")))
        elif name and wanted and connectors[name].type not in wanted:
            what = "a polling connector" if kind == "poll" else f"{' or '.join(sorted(wanted))}"
            out.append(_p(locate(t.source, "events", i, kind, "connector"),
                          f"connector {name!r} is of type {connectors[name].type}, not {what}"))
        if kind == "trap":
            out += _trap(event["trap"], locate(t.source, "events", i, "trap"))
        elif kind == "silence":
            silences.add(event["silence"]["name"])
        elif kind == "end_silence" and event["end_silence"] not in silences:
            out.append(_p(at, f"end_silence: no silence {event['end_silence']!r} was created by an earlier step",
                          hint=_known(event["end_silence"], silences, "silence (with a `silence:` step)")))
    return out


def _trap(trap, at: Source) -> list[Problem]:
    version = trap.get("version", "v2c")
    if "hex" in trap:
        extra = sorted(set(trap) - {"hex", "source", "connector"})
        return [_p(at, f"a trap given as hex takes only source and connector besides (not {', '.join(extra)})")] \
            if extra else []
    out = []
    if version == "v1" and "enterprise" not in trap:
        out.append(_p(at, "a v1 trap needs `enterprise` (and generic_trap / specific_trap)"))
    if version != "v1" and "oid" not in trap:
        out.append(_p(at, f"a {version} trap needs `oid` (snmpTrapOID.0)"))
    if version == "v3" and "user" not in trap:
        out.append(_p(at, "a v3 trap needs `user` (one of the connector's v3_users)"))
    for other, fields in TRAP_FIELDS.items():
        wrong = [f for f in fields if f in trap] if version != other else []
        if wrong:
            out.append(_p(at, f"{', '.join(wrong)}: only for version {other} (this trap is {version})"))
    if version == "v1" and "oid" in trap:
        out.append(_p(at, "a v1 trap has no `oid`: it is made of enterprise, generic_trap and specific_trap"))
    return out


def _expectations(t: RuleTest, bundle: Bundle, locate: Locate) -> list[Problem]:
    out: list[Problem] = []
    channels = {c.name for c in bundle.channels}
    rules = {r.name for r in bundle.rules}
    lists: list[tuple[tuple[str | int, ...], Any]] = [(("expect", "notifications"), t.expect.get("notifications", ())),
             (("expect", "messages"), t.expect.get("messages", ()))]
    for j, span in enumerate(t.expect.get("spans", ())):
        lists.append((("expect", "spans", j, "notifications"), span["notifications"]))
        if "from" in span and "until" in span and parse_duration(span["until"]) < parse_duration(span["from"]):
            at = locate(t.source, "expect", "spans", j)
            out.append(_p(at, f"span ends ({span['until']}) before it starts ({span['from']})"))
    for path, items in lists:
        for i, n in enumerate(items):
            at = locate(t.source, *path, i)
            if "channel" in n and n["channel"] not in channels:
                out.append(_p(at, f"test {t.name!r} expects unknown channel {n['channel']!r}",
                              hint=_known(n["channel"], channels, "channel")))
            if "rule" in n and n["rule"] not in rules:
                out.append(_p(at, f"test {t.name!r} expects unknown rule {n['rule']!r}",
                              hint=_known(n["rule"], rules, "rule")))
    return out
