"""A rule test's input events → the RawEvents production would make of them, through the
real receiving code: the webhook receiver (format, mapping, clear_when), the SNMP decoder
(ber.py, for `hex:`) and the RFC 3584 conversion (convert.py) with the trap's UDP source.
Nothing here interprets an event: the connector's normalizer does that in the pipeline."""
from __future__ import annotations

import json
from datetime import datetime
from types import MappingProxyType
from typing import Any, Mapping

from ..config.bundle import Bundle, ConnectorConfig
from ..connectors.snmp.ber import BerError, TrapMessage, VarBind, decode_message
from ..connectors.snmp.convert import SNMP_TRAP_OID, SYS_UPTIME, ConvertError, notification_of
from ..connectors.snmp.trapwire import payload_of
from ..connectors.webhook.receiver import read_body
from ..errors import OpscError
from ..model import Alert, RawEvent, Severity

TEST_SOURCE = "opsc_test"
DEFAULT_TRAP_SOURCE = "192.0.2.1"
INT_TYPES = frozenset({"Integer32", "Counter32", "Gauge32", "TimeTicks", "Counter64", "Unsigned32"})


class InputError(OpscError):
    """A test event production would refuse (bad body, undecodable trap): the test fails with it."""


def plain(value: Any) -> Any:
    """Frozen config data (MappingProxy, tuples) back to JSON-like dicts and lists."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


# ---- webhook bodies ------------------------------------------------------------------------

def webhook_events(spec: Mapping[str, Any], bundle: Bundle, now: datetime) -> list[RawEvent]:
    """`webhook: {connector, body}`: the body as the sender posts it (an object or list, or
    the raw text), read by the receiver's own code after its credential check."""
    config = _connector(bundle, spec["connector"], "webhook")
    body = spec["body"]
    raw = body.encode("utf-8") if isinstance(body, str) else json.dumps(plain(body)).encode("utf-8")
    try:
        return read_body(config, raw, lambda: now)
    except ValueError as exc:  # what the receiver answers with 400
        raise InputError(f"the receiver refuses the body: {exc}") from None


def payload_event(spec: Mapping[str, Any], bundle: Bundle, now: datetime, event_id: str) -> RawEvent:
    """`connector` + `payload` (the older form): the receiver's output, given as is."""
    config = bundle.connector(spec["connector"])
    assert config is not None  # the loader checked that tests name connectors that exist (config/ruletests.py)
    return RawEvent(event_id, config.name, config.type, now, None, plain(spec["payload"]))


# ---- SNMP traps ----------------------------------------------------------------------------

def trap_event(spec: Mapping[str, Any], bundle: Bundle, now: datetime, event_id: str) -> RawEvent | None:
    """One trap as the receiver makes it: a TrapMessage (from the fields, or decoded from the
    datagram's hex), converted to a notification (v1 → v2c per RFC 3584), from `source`.
    None when the receiver would drop it (a wrong community, a v3 user it does not know)."""
    receivers = sorted((c for c in bundle.connectors if c.type == "snmp_trap"), key=lambda c: not c.enabled)
    connector = spec.get("connector") or (receivers[0].name if receivers else "rule-test")
    source = spec.get("source", DEFAULT_TRAP_SOURCE)
    version = spec.get("version", "v2c")
    if "hex" in spec:
        try:
            msg = decode_message(bytes.fromhex("".join(str(spec["hex"]).split())))
        except ValueError as exc:
            raise InputError(f"trap.hex is not hexadecimal: {exc}") from None
        except BerError as exc:
            raise InputError(f"the receiver drops this datagram: {exc}") from None
        version = "v1" if msg.version == 0 else "v2c"
    elif version == "v1":
        msg = TrapMessage(0, _community(spec), "trap_v1", _varbinds(spec), enterprise=str(spec["enterprise"]),
                          agent_addr=str(spec.get("agent_addr", source)),
                          generic_trap=int(spec.get("generic_trap", 6)), specific_trap=int(spec.get("specific_trap", 0)),
                          timestamp=int(spec.get("timestamp", 0)))
    else:
        head = (VarBind(SYS_UPTIME, "TimeTicks", int(spec.get("uptime", 0))),
                VarBind(SNMP_TRAP_OID, "ObjectIdentifier", str(spec["oid"])))
        msg = TrapMessage(1, _community(spec), "inform" if version == "inform" else "trap_v2",
                          head + _varbinds(spec))
        if version == "v3":
            if not _v3_user_known(spec, bundle.connector(connector)):
                return None
            # What V3Engine hands on after USM: the PDU's varbinds as a v2 notification.
            msg = TrapMessage(1, b"", "inform" if spec.get("inform") else "trap_v2", msg.varbinds)
    if msg.version == 0 or version != "v3":
        if not _community_accepted(msg.community, bundle.connector(connector)):
            return None
    try:
        note = notification_of(msg)
    except ConvertError as exc:
        raise InputError(f"the receiver drops this trap: {exc}") from None
    wire_version = "v3" if version == "v3" else "v1" if msg.version == 0 else "v2c"
    return RawEvent(event_id, connector, "snmp_trap", now, str(source), payload_of(wire_version, note))


def _community(spec: Mapping[str, Any]) -> bytes:
    return str(spec.get("community", "public")).encode("utf-8")


def _community_accepted(community: bytes, config: ConnectorConfig | None) -> bool:
    """The receiver's check, when the connector's communities are known here (a secret that is
    not set in this environment is not checked)."""
    accepted = [c for c in (config.settings.get("communities", ()) if config else ()) if not hasattr(c, "available")
                or c.available]
    return not accepted or any(str(c.reveal() if hasattr(c, "reveal") else c).encode() == community for c in accepted)


def _v3_user_known(spec: Mapping[str, Any], config: ConnectorConfig | None) -> bool:
    """USM as far as a test can say it: the user must be configured, and a trap (not an inform)
    must come from the engine id configured for that user."""
    users = {u.get("user"): u for u in (config.settings.get("v3_users", ()) if config else ())}
    user = users.get(spec.get("user"))
    if user is None:
        return False
    wanted = str(user.get("engine_id") or "").lower().removeprefix("0x")
    given = str(spec.get("engine_id") or "").lower().removeprefix("0x")
    return bool(spec.get("inform")) or not wanted or wanted == given


def _varbinds(spec: Mapping[str, Any]) -> tuple[VarBind, ...]:
    return tuple(_varbind(vb) for vb in spec.get("varbinds", ()))


def _varbind(vb: Mapping[str, Any]) -> VarBind:
    value: Any = vb.get("value")
    kind = vb.get("type") or ("Integer32" if isinstance(value, int) and not isinstance(value, bool)
                              else "Null" if value is None else "OctetString")
    if kind in INT_TYPES:
        return VarBind(str(vb["oid"]), kind, int(value))
    if kind in ("OctetString", "Opaque"):
        text = str(value)
        if kind == "Opaque" or (text.startswith("0x") and _is_hex(text[2:])):
            return VarBind(str(vb["oid"]), kind, bytes.fromhex(text.removeprefix("0x")))
        return VarBind(str(vb["oid"]), kind, text.encode("utf-8"))
    if kind == "Null":
        return VarBind(str(vb["oid"]), kind, None)
    return VarBind(str(vb["oid"]), kind, str(value))  # ObjectIdentifier, IpAddress


def _is_hex(text: str) -> bool:
    return bool(text) and len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text)


# ---- already normalized alerts ---------------------------------------------------------------

def alert_event(spec: Mapping[str, Any], event_id: str, now: datetime) -> RawEvent:
    return RawEvent(event_id, "rule-test", TEST_SOURCE, now, None, plain(spec))


def normalize_test_alert(event: RawEvent, view) -> tuple[Alert, ...]:
    """A rule test's `alert:` event: the fields given, with sensible defaults. Device identity
    and fingerprint from the one identity function (engine/identity.py), as every normalizer."""
    f = dict(event.payload)
    device = view.identify(f.get("device_ip"), f.get("device_name"))
    source_system = str(f.get("source_system", TEST_SOURCE))
    alert_type = str(f.get("alert_type", "test_alert"))
    resource_key = str(f.get("resource_key", ""))
    clears = tuple(f.get("clears", ()))
    return (Alert(
        source_system=source_system, source_alert_id=str(f.get("source_alert_id", alert_type)),
        severity=Severity(f.get("severity", "clear" if clears else "major")), category=str(f.get("category", "unknown")),
        alert_type=alert_type, title=str(f.get("title", alert_type)), message=f.get("message"),
        occurred_at=event.received_at, received_at=event.received_at,
        fingerprint=device.fingerprint(source_system, alert_type, resource_key),
        device_ip=device.ip, device_name=device.name, resource_key=resource_key,
        tags=tuple(f.get("tags", ())), custom_fields=MappingProxyType(dict(f.get("custom_fields", {}))),
        is_clear=bool(clears), clears=clears, connector=event.connector),)


def _connector(bundle: Bundle, name: str, type_: str) -> ConnectorConfig:
    config = bundle.connector(name)
    if config is None or config.type != type_:
        raise InputError(f"connector {name!r} is not a {type_} connector")
    return config

