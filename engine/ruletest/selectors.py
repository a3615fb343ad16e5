"""Picking alerts in a rule test: a selector is {field: value}, compared as text (lists in
order); `custom_fields.NAME` reaches a custom field."""
from __future__ import annotations

from typing import Any, Mapping

from ..model import Alert, Severity, Status


def field_value(alert: Alert, key: str) -> Any:
    if key.startswith("custom_fields."):
        return alert.custom_fields.get(key.removeprefix("custom_fields."))
    value = getattr(alert, key, None)
    return value.value if isinstance(value, (Severity, Status)) else value


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def first_difference(alert: Alert, expected: Mapping[str, Any]) -> str | None:
    """`key: expected 'x', got 'y'` for the first field that differs, else None."""
    for key, want in expected.items():
        have = field_value(alert, key)
        shown_want: list[str] | str | None
        shown_have: list[str] | str | None
        if isinstance(want, (tuple, list)):
            ok = [str(v) for v in (have or ())] == [str(v) for v in want]
            shown_want, shown_have = [str(v) for v in want], [str(v) for v in (have or ())]
        else:
            ok = text(have) == text(want)
            shown_want, shown_have = text(want), text(have)
        if not ok:
            return f"{key}: expected {shown_want!r}, got {shown_have!r}"
    return None


def matches(alert: Alert, selector: Mapping[str, Any]) -> bool:
    return first_difference(alert, selector) is None


def describe_alert(alert: Alert) -> str:
    device = alert.device_ip or alert.device_name or "-"
    resource = f"[{alert.resource_key}]" if alert.resource_key else ""
    return f"{alert.alert_type}@{device}{resource}:{alert.status.value}"
