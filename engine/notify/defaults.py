"""The default title and plain-text body as Python, for the hot path.

Rendering them with Jinja cost more than the HTTP request (a context of ~40 names built
and walked per message, the loop and filters interpreted). These functions produce the
same text as templates.TITLE and templates.BODY_TEXT (tests/notify/test_notify_templates.py
renders both ways over varied messages and compares); rule templates still go through the
sandbox. Values print as Jinja prints them: None as "None".
"""
from __future__ import annotations

from typing import Any, Mapping

from ..pipeline.effects import RESOLVED, SUPPRESSED, NotificationKind


def title(ctx: Mapping[str, Any]) -> str:
    kind: NotificationKind = ctx["kind"]
    head = "[RESOLVED]" if kind == RESOLVED else "[SUPPRESSED]" if kind == SUPPRESSED else \
        f"[{_s(ctx['severity']).upper()}]"
    alerts = ctx["alerts"]
    if len(alerts) > 1:
        tail = f"{len(alerts)} alerts" + (f" - {_s(ctx['group'])}" if ctx["group"] else "")
    else:
        tail = _s(ctx["title"]) + _device_suffix(ctx)
    return f"{head} {tail}"


def body_text(ctx: Mapping[str, Any]) -> str:
    alerts = ctx["alerts"]
    kind: NotificationKind = ctx["kind"]
    if len(alerts) == 1:
        note = " (resolved)" if kind == RESOLVED else \
            f" (now suppressed under its root cause: {_s(ctx['correlation_rule'])})" if kind == SUPPRESSED else ""
        lines = [_s(ctx["title"]) + note, ""]
        ip, device = ctx["device_ip"], ctx["device"]
        lines.append(f"Device:   {_s(device)}" + (f" ({_s(ip)})" if ip and ip != device else ""))
        if ctx["site"]:
            lines.append(f"Site:     {_s(ctx['site'])}")
        lines += [f"Severity: {_s(ctx['severity'])}", f"Status:   {_s(ctx['status'])}", f"Time:     {_s(ctx['time'])}"]
        if ctx["message"]:
            lines.append(f"Message:  {_s(ctx['message'])}")
        lines.append(f"Rule:     {_s(ctx['rule'])}")
        if ctx["url"]:
            lines.append(f"Link:     {_s(ctx['url'])}")
        return "\n".join(lines) + "\n"
    out = [f"{len(alerts)} {'resolved ' if kind == RESOLVED else ''}alerts"
           + (f" for {_s(ctx['group'])}" if ctx["group"] else "") + f" (rule {_s(ctx['rule'])}):", ""]
    for a in alerts:
        out.append(f"- [{_s(a['severity']).upper()}] {_s(a['title'])}{_device_suffix(a)}, {_s(a['status'])} since "
                   f"{_s(a['time'])}")
        if a["url"]:
            out.append(f"  {_s(a['url'])}")
    return "\n".join(out) + "\n"


def _device_suffix(view: Mapping[str, Any]) -> str:
    device, text = view["device"], view["title"]
    return f" - {_s(device)}" if device and device not in _s(text) else ""


def _s(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
