"""Titles and bodies of notifications: default templates per output, rule-level overrides.

Templates run in the config's sandbox (engine/config/templates.py), the same environment
that checked the rule's templates at validation time. Plain text everywhere except the HTML
part of an email, which is rendered with autoescape; Slack mrkdwn gets its values escaped.
A rule template that fails at run time falls back to the default and the error is kept.
"""
from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from ..config.templates import render
from ..pipeline.effects import RESOLVED
from . import defaults
from .message import Message

log = logging.getLogger("opsconductor.notify")

# Names the default templates use beyond NOTIFICATION_FIELDS (alert views carry them too).
EXTRA_FIELDS = frozenset({"device", "time", "url", "group", "group_labels"})

TITLE = (
    "{% if kind == 'resolved' %}[RESOLVED]{% elif kind == 'suppressed' %}[SUPPRESSED]{% else %}[{{ severity|upper }}]{% endif %} "
    "{% if alerts|length > 1 %}{{ alerts|length }} alerts{% if group %} - {{ group }}{% endif %}"
    "{% else %}{{ title }}{% if device and device not in title %} - {{ device }}{% endif %}{% endif %}"
)

BODY_TEXT = """\
{% if alerts|length == 1 -%}
{{ title }}{% if kind == 'resolved' %} (resolved){% elif kind == 'suppressed' %} (now suppressed under its root cause: {{ correlation_rule }}){% endif %}

Device:   {{ device }}{% if device_ip and device_ip != device %} ({{ device_ip }}){% endif %}
{% if site %}Site:     {{ site }}
{% endif %}Severity: {{ severity }}
Status:   {{ status }}
Time:     {{ time }}
{% if message %}Message:  {{ message }}
{% endif %}Rule:     {{ rule }}
{% if url %}Link:     {{ url }}
{% endif %}
{%- else -%}
{{ alerts|length }} {% if kind == 'resolved' %}resolved {% endif %}alerts{% if group %} for {{ group }}{% endif %} (rule {{ rule }}):
{% for a in alerts %}
- [{{ a.severity|upper }}] {{ a.title }}{% if a.device and a.device not in a.title %} - {{ a.device }}{% endif %}, {{ a.status }} since {{ a.time }}
{%- if a.url %}
  {{ a.url }}{% endif %}
{%- endfor %}
{% endif %}"""

BODY_SLACK = """\
{% if alerts|length == 1 -%}
*Device:* {{ device }}{% if device_ip and device_ip != device %} ({{ device_ip }}){% endif %}
{% if site %}*Site:* {{ site }}
{% endif %}*Severity:* {{ severity }}   *Status:* {{ status }}
*Time:* {{ time }}
{% if message %}*Message:* {{ message }}
{% endif %}*Rule:* {{ rule }}{% if url %}
<{{ url }}|View alert in OpsConductor>{% endif %}
{%- else -%}
*{{ alerts|length }} {% if kind == 'resolved' %}resolved {% endif %}alerts{% if group %} for {{ group }}{% endif %}* (rule {{ rule }})
{% for a in alerts %}
• [{{ a.severity|upper }}] {% if a.url %}<{{ a.url }}|{{ a.title }}>{% else %}{{ a.title }}{% endif %}{% if a.device and a.device not in a.title %} - {{ a.device }}{% endif %} ({{ a.time }})
{%- endfor %}
{% endif %}"""

BODY_HTML = """\
<html><body style="font-family: sans-serif">
<h2 style="color: {{ color }}">{{ heading }}</h2>
{% if alerts|length == 1 -%}
<table cellpadding="4">
<tr><th align="left">Device</th><td>{{ device }}{% if device_ip and device_ip != device %} ({{ device_ip }}){% endif %}</td></tr>
{% if site %}<tr><th align="left">Site</th><td>{{ site }}</td></tr>
{% endif %}<tr><th align="left">Severity</th><td>{{ severity }}</td></tr>
<tr><th align="left">Status</th><td>{{ status }}</td></tr>
<tr><th align="left">Time</th><td>{{ time }}</td></tr>
{% if message %}<tr><th align="left">Message</th><td>{{ message }}</td></tr>
{% endif %}<tr><th align="left">Rule</th><td>{{ rule }}</td></tr>
</table>
{% if url %}<p><a href="{{ url }}">View alert in OpsConductor</a></p>{% endif %}
{%- else -%}
<p>{{ alerts|length }} {% if kind == 'resolved' %}resolved {% endif %}alerts{% if group %} for {{ group }}{% endif %} (rule {{ rule }})</p>
<table cellpadding="4" border="1" style="border-collapse: collapse">
<tr><th>Severity</th><th>Alert</th><th>Device</th><th>Status</th><th>Since</th></tr>
{% for a in alerts %}<tr><td>{{ a.severity|upper }}</td><td>{% if a.url %}<a href="{{ a.url }}">{{ a.title }}</a>{% else %}{{ a.title }}{% endif %}</td><td>{{ a.device }}</td><td>{{ a.status }}</td><td>{{ a.time }}</td></tr>
{% endfor %}</table>
{%- endif %}
{% if body_override %}<pre style="font-family: inherit; white-space: pre-wrap">{{ body_override }}</pre>{% endif %}
</body></html>"""

OVERRIDE_HTML = """\
<html><body style="font-family: sans-serif">
<h2 style="color: {{ color }}">{{ heading }}</h2>
<pre style="font-family: inherit; white-space: pre-wrap">{{ body_override }}</pre>
</body></html>"""

COLORS = {"critical": "#b00020", "major": "#d9480f", "minor": "#e8a100", "warning": "#e8a100",
          "info": "#1c7ed6", "clear": "#2b8a3e", "resolved": "#2b8a3e"}


def context(msg: Message) -> dict[str, Any]:
    """The template context: the representative alert's fields at the top level, every alert
    of the message in `alerts` (views), and rule, channel, kind, dashboard_url, group."""
    rep = msg.representative()
    view = msg.views[rep]
    return {
        **view, "raw_data": dict(msg.notifications[rep].alert.raw_data), "alert": view, "alerts": list(msg.views),
        "rule": msg.rule, "channel": msg.channel, "kind": msg.kind, "dashboard_url": msg.dashboard_url,
        "group": msg.group, "group_labels": dict(msg.group_labels),
    }


@dataclass
class Rendered:
    title: str
    text: str
    errors: list[str] = field(default_factory=list)


def render_message(msg: Message, body_default: str = BODY_TEXT,
                   escape: Callable[[str], str] | None = None) -> Rendered:
    """Title and plain body; with `escape`, values are escaped for the target markup (Slack)."""
    ctx = context(msg)
    errors: list[str] = []
    action = msg.action
    title_source = action.title_template if action else None
    body_source = action.body_template if action else None
    # The defaults as Python (defaults.py): the same text, without Jinja on the hot path.
    title = defaults.title(ctx) if not title_source else _one(title_source, TITLE, ctx, errors, "title")
    if not body_source and body_default is BODY_TEXT and escape is None:
        text = defaults.body_text(ctx)
    else:
        body_ctx = _escaped(ctx, escape) if escape else ctx
        text = _one(body_source, body_default, body_ctx, errors, "body")
    title = " ".join(title.split())
    if msg.storm:  # a digest says so, in words, before anything else
        title, text = storm_title(msg, title), storm_note(msg, escape) + "\n\n" + text.strip()
    return Rendered(title, text.strip() + "\n", errors)


def storm_title(msg: Message, title: str) -> str:
    return f"[STORM GUARD] {msg.storm.get('alerts', len(msg.views))} alerts, rule {msg.rule}: {title}"


def storm_note(msg: Message, escape: Callable[[str], str] | None = None) -> str:
    s = msg.storm
    text = (f"Storm guard: more than {s.get('limit')} messages within {s.get('window_seconds'):g}s on channel "
            f"{msg.channel}, so this channel gets one digest per group. This digest stands for {s.get('alerts')} "
            f"alert(s) from {s.get('messages')} message(s){' for ' + msg.group if msg.group else ''}; "
            f"the storm has lasted {s.get('storm_seconds'):g}s.")
    if s.get("link"):
        text += f" All open alerts: {s['link']}"
    return escape(text) if escape else text


def render_html(msg: Message, title: str) -> tuple[str, list[str]]:
    """The HTML part of an email (autoescaped); a rule's body template is shown preformatted."""
    ctx = context(msg)
    errors: list[str] = []
    action = msg.action
    override = None
    if action and action.body_template:
        override = _one(action.body_template, "", ctx, errors, "body")
    color = COLORS["resolved"] if msg.kind == RESOLVED else COLORS.get(ctx["severity"], "#333")
    full = {**ctx, "heading": title, "color": color, "body_override": override}
    source = OVERRIDE_HTML if override else BODY_HTML
    return render(source, full, autoescape=True), errors


def _one(source: str | None, default: str, ctx: dict, errors: list[str], what: str) -> str:
    if source:
        try:
            out = render(source, ctx)
            if out.strip() or what != "title":
                return out
            errors.append("rule title template rendered empty; the default was used")
        except Exception as exc:  # the sandbox refused or the template failed: say so, send the default
            errors.append(f"rule {what} template failed ({type(exc).__name__}: {exc}); the default was used")
        if errors:
            log.warning("notification for rule %s: %s", ctx.get("rule"), errors[-1])
    return render(default, ctx) if default else ""


def _escaped(value: Any, escape: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v, escape) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v, escape) for v in value]
    return value


def slack_escape(text: str) -> str:
    """Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html_escape(text: str) -> str:
    return html.escape(text, quote=True)
