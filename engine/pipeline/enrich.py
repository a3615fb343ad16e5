"""Stage 2: new alerts go through the rules (`set` enriches; notify/suppress/correlate are
remembered for the later stages). Repeats and clears skip the rules: nothing about them
is new."""
from __future__ import annotations


from .work import Candidate, Context, Work


def enrich(work: Work, ctx: Context) -> Work:
    out = []
    for c in work.candidates:
        if c.alert.is_clear or ctx.state.open_alert(c.alert.fingerprint) is not None:
            out.append(c)
            continue
        outcome = ctx.rules.evaluate(c.alert, ctx.view.site(c.alert.device_ip), work.now)
        out.append(Candidate(outcome.alert, outcome))
    return work.with_(candidates=tuple(out))
