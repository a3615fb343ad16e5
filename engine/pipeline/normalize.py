"""Stage 1: a raw event becomes candidate alerts, through its connector type's normalizer."""
from __future__ import annotations


from ..errors import ConnectorError
from ..model import DropEvent, evolve, fit
from .work import Candidate, Context, Work


def normalize(work: Work, ctx: Context) -> Work:
    event = work.event
    if event is None:
        return work
    normalizer = ctx.normalizers.get(event.source_system)
    if normalizer is None:
        raise ConnectorError(event.connector, f"no normalizer for source system {event.source_system!r}")
    try:
        alerts = normalizer(event, ctx.view)
    except DropEvent:
        return work.with_(effects=work.effects.with_(dropped=1))
    candidates = tuple(Candidate(evolve(fit(a), config_version_id=ctx.view.version_id,
                                         connector=a.connector or event.connector)) for a in alerts)
    return work.with_(candidates=candidates)
