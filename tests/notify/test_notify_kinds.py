"""Every notification kind (pipeline.effects.KINDS, the one list) goes through every channel
type: each driver builds its request, the title on the wire says what the kind means, the
kind travels where the format has a place for it, and PagerDuty has an event_action for each."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from notify_contract import KITS
from notify_helpers import load_tree, make_alert, notification

from opsconductor.engine.model import Status, evolve
from opsconductor.engine.notify import templates
from opsconductor.engine.notify.channels import DRIVERS
from opsconductor.engine.notify.channels.pagerduty import ACTIONS
from opsconductor.engine.notify.http import HttpClient
from opsconductor.engine.notify.message import Message, alert_view
from opsconductor.engine.pipeline.effects import KINDS, TELLS

# The kits' configs, pointed nowhere: requests are built, never sent.
NOWHERE = SimpleNamespace(http=SimpleNamespace(url="http://127.0.0.1:9"), smtp=SimpleNamespace(port=9))
STATUS = {"resolved": Status.RESOLVED, "acknowledged": Status.ACKNOWLEDGED, "suppressed": Status.SUPPRESSED}
HEAD = {"resolved": "[RESOLVED]", "suppressed": "[SUPPRESSED]"}  # every other kind: the severity


def _title(type_: str, body, data) -> str | None:
    """The title a channel puts on the wire (None: this request carries none)."""
    if type_ == "teams":
        return body["attachments"][0]["content"]["body"][0]["text"]
    if type_ == "pagerduty":
        return body["payload"]["summary"] if "payload" in body else None
    return {"webhook": body.get("title"), "email": body.get("subject"), "slack": body.get("text"),
            "log": body.get("title")}[type_]


def _kind_on_wire(type_: str, body, data) -> str | None:
    if type_ == "webhook":
        return body["kind"]
    if type_ == "email":
        return data["X-OpsConductor-Kind"]
    if type_ == "slack":
        return body["blocks"][-1]["elements"][0]["text"].rsplit(" · ", 1)[1]
    return None  # teams, log: only the title says it; pagerduty: its event_action (below)


@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.type)
def test_every_channel_type_builds_every_kind(tmp_path, kit) -> None:
    cfg = {"name": "ch", "type": kit.type, **kit.config(NOWHERE)}
    bundle = load_tree(tmp_path, [cfg], [{"name": "page", "notify": {"channels": ["ch"]}}], kit.env(NOWHERE))
    (channel,) = bundle.channels
    driver = DRIVERS[kit.type](channel, HttpClient())
    try:
        for kind in KINDS:
            alert = evolve(make_alert(1, device_name="site1-ups"), status=STATUS.get(kind, Status.ACTIVE),
                           correlation_rule="dependency:network:site1-ups->site1-switch")
            n = notification(alert, bundle, "page", kind)
            msg = Message("page", "ch", kind, (n,), (alert_view(alert, "site1", None),))
            (out,) = driver.requests(msg)
            title = _title(kit.type, out.body, out.data)
            if title is not None:
                assert title.startswith(HEAD.get(kind, "[CRITICAL]")), (kind, title)
            if (carried := _kind_on_wire(kit.type, out.body, out.data)) is not None:
                assert carried == kind
            if kit.type == "pagerduty":
                assert out.body["event_action"] == ACTIONS[kind]
    finally:
        driver.close()


def test_pagerduty_has_an_event_action_for_each_kind() -> None:
    assert set(ACTIONS) == set(KINDS)
    assert {k for k, action in ACTIONS.items() if action == "trigger"} == TELLS
    assert (ACTIONS["resolved"], ACTIONS["suppressed"], ACTIONS["acknowledged"]) == ("resolve", "resolve", "acknowledge")


@pytest.mark.parametrize("source", [templates.TITLE, templates.BODY_TEXT, templates.BODY_SLACK, templates.BODY_HTML])
def test_the_default_templates_name_only_known_kinds(source) -> None:
    named = re.findall(r"kind\s*==\s*['\"]([^'\"]*)['\"]", source)
    assert set(named) <= set(KINDS)
