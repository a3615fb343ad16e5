"""Stage 1: a raw event becomes candidate alerts, through its connector type's normalizer."""
from __future__ import annotations


from ..errors import ConnectorError
from ..model import Alert, DropEvent, evolve, fit
from ..rootcause import Decision as RootCause, subtype_field
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
    candidates = tuple(Candidate(_identified(a, ctx, event.connector)) for a in alerts)
    return work.with_(candidates=candidates)


ROOT_NONE = RootCause(None, None)  # a clear is never a root


def _identified(alert: Alert, ctx: Context, connector: str) -> Alert:
    """The alert with its device identity and fingerprint decided in the one place
    (engine/identity.py), whatever the normalizer did, and only then cut to column widths:
    a long name or resource key never changes which alert a clear resolves."""
    ident = ctx.view.identify(alert.device_ip, alert.device_name)
    fp = ident.fingerprint(alert.source_system, alert.alert_type, alert.resource_key)
    targets = tuple(ident.fingerprint(alert.source_system, t, alert.resource_key) for t in alert.clears)
    connector = alert.connector or connector
    root = ROOT_NONE if alert.is_clear else ctx.view.root_causes.decide(
        connector, alert.source_system, alert.alert_type, alert.custom_fields.get(subtype_field(alert.source_system) or ""),
        alert.root_cause, alert.root_cause_by)
    return fit(evolve(alert, device_ip=ident.ip, device_name=ident.name, fingerprint=fp, clear_targets=targets,
                      config_version_id=ctx.view.version_id, connector=connector, root_cause=root.kind,
                      root_cause_by=root.by))
