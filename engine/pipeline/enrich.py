"""Stage 2: new alerts go through the rules (`set` enriches; notify/suppress/correlate are
remembered for the later stages). Clears and repeats skip the rules — unless a repeat
carries another severity: then its escalation is decided on what the rules say now."""
from __future__ import annotations


from ..model import evolve
from .work import Candidate, Context, Work


def enrich(work: Work, ctx: Context) -> Work:
    out = []
    for c in work.candidates:
        if c.alert.is_clear:
            out.append(c)
            continue
        existing = ctx.state.open_alert(c.alert.fingerprint)
        if existing is None:
            outcome = ctx.rules.evaluate(c.alert, ctx.view.site(c.alert.device_ip), work.now)
            out.append(Candidate(outcome.alert, outcome))
        elif c.alert.severity is not existing.severity:
            # A repeat whose severity moved: the open alert as it would be now (a rule's `set`
            # may pin the severity), and the rules it would match — correlate compares.
            moved = evolve(existing, severity=c.alert.severity)
            out.append(Candidate(c.alert, ctx.rules.evaluate(moved, ctx.view.site(moved.device_ip), work.now)))
        else:
            out.append(c)
    return work.with_(candidates=tuple(out))
