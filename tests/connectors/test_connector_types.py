"""A connector type is one folder: its declaration (`CONNECTORS` in its __init__.py) is all the
engine reads. A tiny type in a temporary package, registered, is validated by its own schema
and checks, listed by `opsc schema`, started by the supervisor (as `opsc serve` does), and its
events are normalized and judged root causes by its defaults; without it, validate refuses
the type. And no engine module outside a type's folder names a shipped type."""
from __future__ import annotations

import asyncio
import importlib
import json
import re
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from opsconductor.engine.config.schema import kind_schema
from opsconductor.engine.connectors import catalog
from opsconductor.engine.connectors.registry import NORMALIZERS
from opsconductor.engine.connectors.supervisor import ConnectorSupervisor
from opsconductor.engine.model import RawEvent
from opsconductor.engine.pipeline.pipeline import Pipeline
from opsconductor.engine.rules.host import RulesHost
from opsconductor.engine.rules.limits import validate_tree

ROOT = Path(__file__).resolve().parents[2]

DECLARATION = '''
from opsconductor.engine.connectors.spec import ConnectorType, Finding


def _check(name, settings, enabled):
    if settings.get("loud") and not enabled:
        yield Finding(f"connector {name!r}: loud, but disabled", warning=True)


CONNECTORS = (ConnectorType("tiny", __name__, normalizer="normalizer:normalize", poller="poller:TinyPoller",
                            root_causes={"tiny_down": "device_down"}, check=_check),)
'''
SCHEMA = {"description": "A connector type made by a test",
          "properties": {"url": {"type": "string"}, "loud": {"type": "boolean"}}, "required": ["url"]}
NORMALIZER = '''
from opsconductor.engine.model import Alert, Severity


def normalize(event, view):
    return (Alert(source_system="tiny", source_alert_id=event.payload["host"], severity=Severity.MAJOR,
                  category="network", alert_type="tiny_down", title=f"{event.payload['host']} is down", message=None,
                  occurred_at=event.received_at, received_at=event.received_at, fingerprint="",
                  device_ip=event.payload["host"], connector=event.connector),)
'''
POLLER = '''
from opsconductor.engine.connectors.base import Connector


class TinyPoller(Connector):
    type = "tiny"

    def __init__(self, config, sink, **options):
        super().__init__(config, sink)

    async def start(self):
        self.offer([self.event({"host": "10.9.0.1"})])

    async def stop(self):
        pass
'''


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    package = tmp_path / "pkgs" / "opsc_tiny_connector"
    package.mkdir(parents=True)
    for name, text in (("__init__.py", DECLARATION), ("normalizer.py", NORMALIZER), ("poller.py", POLLER)):
        (package / name).write_text(textwrap.dedent(text), encoding="utf-8")
    (package / "schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    module = importlib.import_module("opsc_tiny_connector")
    with catalog.registered(*module.CONNECTORS):
        yield module


def tree(tmp_path: Path, connector: str) -> Path:
    root = tmp_path / "tree"
    (root / "connectors.d").mkdir(parents=True, exist_ok=True)
    (root / "connectors.d" / "tiny.yaml").write_text(textwrap.dedent(connector), encoding="utf-8")
    return root


def test_validate_takes_a_registered_type_with_its_schema_and_checks(tiny, tmp_path):
    ok = validate_tree(tree(tmp_path, "name: t1\ntype: tiny\nurl: http://tiny.test\n"), environ={}, with_git=False)
    assert ok.errors == () and [c.type for c in ok.bundle.connectors] == ["tiny"]

    bad = validate_tree(tree(tmp_path, "name: t1\ntype: tiny\nurll: http://tiny.test\n"), environ={}, with_git=False)
    assert [p.message for p in bad.errors] == ["missing required key 'url'", "unknown key 'urll'"]

    warned = validate_tree(tree(tmp_path, "name: t1\ntype: tiny\nurl: http://t\nloud: true\nenabled: false\n"),
                           environ={}, with_git=False)
    assert [p.message for p in warned.warnings] == ["connector 't1': loud, but disabled"]
    assert "tiny" in kind_schema("connector")["$defs"]["connector_any"]["properties"]["type"]["enum"]


def test_without_its_declaration_the_type_is_unknown(tmp_path):
    result = validate_tree(tree(tmp_path, "name: t1\ntype: tiny\nurl: http://tiny.test\n"), environ={}, with_git=False)
    assert [p.message for p in result.errors] == ["unknown connector type 'tiny'"]


def test_serve_starts_its_poller_and_the_pipeline_normalizes_its_events(tiny, tmp_path):
    bundle = validate_tree(tree(tmp_path, "name: t1\ntype: tiny\nurl: http://tiny.test\n"), environ={},
                           with_git=False).bundle
    received: list[RawEvent] = []

    async def run() -> None:
        supervisor = ConnectorSupervisor(received.extend)
        report = await supervisor.reconcile(bundle)
        assert report["started"] == ["t1"] and supervisor.reasons() == []
        await supervisor.stop_all()

    asyncio.run(run())
    (event,) = received
    pipeline = Pipeline(bundle, RulesHost(), normalizers=NORMALIZERS)
    try:
        effects = pipeline.process(event, datetime(2026, 1, 5, 9, tzinfo=timezone.utc))
    finally:
        pipeline.close()
    (alert,) = effects.created
    assert (alert.alert_type, alert.device_ip, alert.root_cause, alert.root_cause_by) == \
        ("tiny_down", "10.9.0.1", "device_down", "default for tiny: tiny_down")


def test_no_engine_module_outside_a_types_folder_names_it():
    """What an added type would otherwise have to touch. Exceptions, each for a reason: the
    legacy importer maps the old database's own connector kinds; rule tests' `trap:` and
    `webhook:` steps are the SNMP and webhook wire formats (read by those folders' code);
    "webhook" is also a notification channel type (outbound), another thing of that name."""
    allowed = {"engine/legacy.py", "engine/ruletest/inputs.py"}
    other_meaning = {("webhook", "engine/config/ruletests.py"), ("webhook", "engine/ruletest/runner.py"),
                     ("webhook", "engine/config/schema.py"), ("webhook", "engine/notify/channels/webhook.py")}
    found = []
    for spec in catalog.all_types():
        folder = "engine/" + spec.package.removeprefix("opsconductor.engine.").replace(".", "/") + "/"
        pattern = re.compile(rf"""["']{re.escape(spec.name)}["']""")
        for path in sorted((ROOT / "engine").rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel.startswith(folder) or rel in allowed or (spec.name, rel) in other_meaning:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line.split("#")[0]):
                    found.append(f"{rel}:{n}: {line.strip()}")
    assert found == []


def test_every_declared_fake_exists():
    declared = {t.name: t.fake for t in catalog.all_types() if t.fake}
    assert declared and all((ROOT / path).is_file() for path in declared.values()), declared
