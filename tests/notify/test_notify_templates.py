"""Default templates read well; rule templates override them; bad ones are caught at
validation time, and a run-time failure falls back to the default."""
from __future__ import annotations

import pytest
from notify_helpers import load_tree, make_alert, notification

from opsconductor.engine.config.templates import NOTIFICATION_FIELDS, check_template
from opsconductor.engine.errors import OpscError
from opsconductor.engine.model import Status, evolve
from opsconductor.engine.notify.message import Message, alert_view
from opsconductor.engine.pipeline.effects import KINDS
from opsconductor.engine.notify.templates import (BODY_HTML, BODY_SLACK, BODY_TEXT, EXTRA_FIELDS, TITLE, render_html,
                                                  render_message)


def message(tmp_path, alerts, template=None, kind="firing", dashboard="https://opsc.example.net"):
    notify = {"channels": ["l"], **({"template": template} if template else {})}
    bundle = load_tree(tmp_path, [{"name": "l", "type": "log"}], [{"name": "page-power", "notify": notify}])
    ns = tuple(notification(a, bundle, "page-power", kind) for a in alerts)
    return Message("page-power", "l", kind, ns, tuple(alert_view(a, "site1", dashboard) for a in alerts),
                   group_labels={"site": "site1"} if len(alerts) > 1 else {}, dashboard_url=dashboard)


@pytest.mark.parametrize("source", [TITLE, BODY_TEXT, BODY_SLACK])
def test_defaults_use_only_known_fields(source) -> None:
    assert check_template(source, NOTIFICATION_FIELDS | EXTRA_FIELDS) == []


def test_default_single_alert(tmp_path) -> None:
    alert = make_alert(1, device_ip="10.20.0.5", device_name="site1-ups")
    r = render_message(message(tmp_path, [alert]))
    assert r.title == "[CRITICAL] UPS Low Battery - site1-ups"
    assert r.text == (
        "UPS Low Battery\n\n"
        "Device:   site1-ups (10.20.0.5)\n"
        "Site:     site1\n"
        "Severity: critical\n"
        "Status:   active\n"
        "Time:     2026-03-01 12:00:01 UTC\n"
        "Message:  battery at 10%\n"
        "Rule:     page-power\n"
        f"Link:     https://opsc.example.net/alerts/{alert.id}\n")


def test_title_does_not_repeat_the_device(tmp_path) -> None:
    alert = make_alert(1, device_name="site1-router", title="Device Cold Start - site1-router")
    assert render_message(message(tmp_path, [alert])).title == "[CRITICAL] Device Cold Start - site1-router"


def test_no_link_without_dashboard_url(tmp_path) -> None:
    r = render_message(message(tmp_path, [make_alert(1)], dashboard=None))
    assert "Link:" not in r.text and "/alerts/" not in r.text


def test_resolved_and_group(tmp_path) -> None:
    alerts = [evolve(make_alert(i, device_name=f"cam{i}"), status=Status.RESOLVED) for i in range(3)]
    r = render_message(message(tmp_path, alerts, kind="resolved"))
    assert r.title == "[RESOLVED] 3 alerts - site1"
    lines = r.text.splitlines()
    assert lines[0] == "3 resolved alerts for site1 (rule page-power):"
    assert lines[2] == "- [CRITICAL] UPS Low Battery - cam0, resolved since 2026-03-01 12:00:00 UTC"
    assert lines[3] == f"  https://opsc.example.net/alerts/{alerts[0].id}"


def test_rule_templates_override(tmp_path) -> None:
    msg = message(tmp_path, [make_alert(1, device_name="ups")],
                  {"title": "{{ rule }}: {{ title }} on {{ device_name }}", "body": "{{ alerts|length }} x {{ severity }}"})
    r = render_message(msg)
    assert (r.title, r.text, r.errors) == ("page-power: UPS Low Battery on ups", "1 x critical\n", [])


def test_html_is_autoescaped(tmp_path) -> None:
    msg = message(tmp_path, [make_alert(1, device_name="<script>x</script>", message="a & b")])
    html, errors = render_html(msg, "t")
    assert "&lt;script&gt;" in html and "<script>" not in html and "a &amp; b" in html and errors == []
    assert BODY_HTML.count("{{") > 5


def test_unknown_field_is_a_validation_error(tmp_path) -> None:
    with pytest.raises(OpscError) as err:
        message(tmp_path, [make_alert(1)], {"title": "{{ severty }} {{ title }}"})
    assert "severty" in str(err.value)


def test_run_time_failure_falls_back_to_the_default(tmp_path) -> None:
    msg = message(tmp_path, [make_alert(1, device_name="ups")], {"title": "{{ occurrence_count / 0 }}",
                                                                 "body": "{{ title.__class__ }}"})
    r = render_message(msg)
    assert r.title == "[CRITICAL] UPS Low Battery - ups" and "ZeroDivisionError" in r.errors[0]
    assert r.text == "\n"  # the sandbox hides internals: renders nothing, raises nothing


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("dashboard", ["https://opsc.example.net", None])
def test_python_defaults_say_what_the_jinja_defaults_say(tmp_path, kind, count, dashboard) -> None:
    from opsconductor.engine.config.templates import render
    from opsconductor.engine.notify import defaults
    from opsconductor.engine.notify.templates import context

    variants = [make_alert(1, device_ip="10.20.0.5", device_name="site1-ups"),
                make_alert(2, device_ip="10.20.0.6", message=None, title="Link down on 10.20.0.6"),
                make_alert(3, device_ip="10.20.0.7", device_name="10.20.0.7", title="Tab\there {{ x }}")]
    msg = message(tmp_path, variants[:count], kind=kind, dashboard=dashboard)
    for m in (msg, msg.single(count - 1)):
        ctx = context(m)
        assert defaults.title(ctx) == render(TITLE, ctx)
        assert defaults.body_text(ctx).strip() == render(BODY_TEXT, ctx).strip()
