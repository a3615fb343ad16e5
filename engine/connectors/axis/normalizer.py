"""Axis camera problems → alerts, and the VAPIX/ONVIF event XML the connector reads.

| check | from | alert_type | severity | category |
|---|---|---|---|---|
| unreachable | no TCP connection (refused, connect timeout, DNS) | device_unreachable | major | video |
| tampering | `tns1:VideoSource/tnsaxis:Tampering` (tampering=1), or ONVIF `…/GlobalSceneChange/ImagingService` (State=1) | camera_tampering | major | security |
| storage_disruption | `tnsaxis:Storage/Disruption` (disruption=1) | storage_disruption | major | storage |
| storage_failure | `tns1:Device/tnsaxis:HardwareFailure/StorageFailure` (disruption=1) | storage_failure | critical | storage |

`severity_map` overrides, keyed by the check or the alert type. Device: the target's host
(an IP, else a name) and its `name`; resource_key: the event source (channel, disk_id), or
"device" for reachability.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Iterator

from ...model import Alert, RawEvent, Severity
from ..normalize_helpers import ip_or_none, parse_time, poll_alert, severity_for

NS = {"env": "http://www.w3.org/2003/05/soap-envelope", "tev": "http://www.onvif.org/ver10/events/wsdl",
      "wsnt": "http://docs.oasis-open.org/wsn/b-2", "wsa": "http://www.w3.org/2005/08/addressing",
      "tt": "http://www.onvif.org/ver10/schema"}
TOPICS = {  # topic (namespace prefix dropped, lower case) → (check, data item that says "on")
    "videosource/tampering": ("tampering", "tampering"),
    "videosource/globalscenechange/imagingservice": ("tampering", "state"),
    "storage/disruption": ("storage_disruption", "disruption"),
    "device/hardwarefailure/storagefailure": ("storage_failure", "disruption"),
}
TOPIC_FILTER = ("tns1:VideoSource/tnsaxis:Tampering|tns1:VideoSource/GlobalSceneChange/ImagingService|"
                "tnsaxis:Storage/Disruption|tns1:Device/tnsaxis:HardwareFailure/StorageFailure")
CHECKS = {"unreachable": ("device_unreachable", Severity.MAJOR, "video"),
          "tampering": ("camera_tampering", Severity.MAJOR, "security"),
          "storage_disruption": ("storage_disruption", Severity.MAJOR, "storage"),
          "storage_failure": ("storage_failure", Severity.CRITICAL, "storage")}
TITLES = {"unreachable": "Camera unreachable", "tampering": "Camera tampering",
          "storage_disruption": "Storage disruption", "storage_failure": "Storage failure"}
ON = frozenset({"1", "true", "yes", "tampered"})


def topic_key(text: str) -> str:
    parts = [p.split(":", 1)[-1] for p in text.strip().split("/")]
    return "/".join(parts).lower()


def _items(node: ET.Element | None) -> dict[str, str]:
    if node is None:
        return {}
    return {e.get("Name", ""): e.get("Value", "") for e in node.iter(f"{{{NS['tt']}}}SimpleItem")}


def notifications(root: ET.Element) -> Iterator[dict[str, Any]]:
    """Each NotificationMessage of interest as {check, topic, source, data, on, time, operation}."""
    for message in root.iter(f"{{{NS['wsnt']}}}NotificationMessage"):
        topic = message.findtext("wsnt:Topic", default="", namespaces=NS)
        known = TOPICS.get(topic_key(topic))
        body = message.find("wsnt:Message/tt:Message", NS)
        if known is None or body is None:
            continue
        check, flag = known
        data = _items(body.find("tt:Data", NS))
        value = next((v for k, v in data.items() if k.lower() == flag), "")
        yield {"check": check, "topic": topic.strip(), "source": _items(body.find("tt:Source", NS)), "data": data,
               "on": value.strip().lower() in ON, "time": body.get("UtcTime"),
               "operation": body.get("PropertyOperation")}


def normalize(event: RawEvent, view) -> tuple[Alert, ...]:
    item = event.payload.get("item") or {}
    config = view.connectors.get(event.connector)
    check = str(item.get("check") or "unreachable")
    alert_type, default, category = CHECKS.get(check, ("axis_event", Severity.WARNING, "video"))
    severity = severity_for(config, (check, alert_type), default)
    host = str(item.get("host") or "")
    ip = ip_or_none(host)
    name = item.get("name") if isinstance(item.get("name"), str) and item.get("name") else None
    device_name = (view.device_name(ip) if ip and ip in view.devices_by_ip else None) or name or host
    source = item["source"] if isinstance(item.get("source"), dict) else {}
    resource = ",".join(f"{v}" for _, v in sorted(source.items())) or "device"
    if config and config.category and check == "unreachable":
        category = config.category
    where = f" ({resource})" if source else ""
    return (poll_alert(
        event, view, alert_type=alert_type, severity=severity, category=category,
        title=f"{TITLES.get(check, check)} on {device_name}{where}", device_ip=ip, device_name=device_name,
        resource_key=resource, message=item.get("error") or item.get("topic"),
        occurred_at=parse_time(item.get("time")),
        custom_fields={"check": check, "topic": item.get("topic"), "model": item.get("model"),
                       "serial": item.get("serial")}),)
