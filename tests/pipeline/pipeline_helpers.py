"""Build small config trees from YAML text and drive the real pipeline over them."""
from __future__ import annotations

import itertools
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

from opsconductor.engine.connectors.registry import NORMALIZERS
from opsconductor.engine.config.loader import load_tree
from opsconductor.engine.connectors.snmp.trapwire import trap_payload
from opsconductor.engine.model import RawEvent
from opsconductor.engine.pipeline.pipeline import Pipeline
from opsconductor.engine.rules.host import RulesHost

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
HOST = RulesHost()

TRAPS = """
name: traps
type: snmp_trap
listen: ["127.0.0.1:1162"]
communities: ["${env:C:-public}"]
"""


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    files = {"connectors.d/traps.yaml": TRAPS, **files}
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def pipeline(tmp_path: Path, files: dict[str, str]) -> Pipeline:
    result = load_tree(tree(tmp_path, files), environ={}, with_git=False)
    assert result.bundle is not None, [p.format() for p in result.problems]
    counter = itertools.count(1)
    return Pipeline(result.bundle, HOST, normalizers=NORMALIZERS, new_id=lambda: f"00000000-0000-4000-8000-{next(counter):012d}")


_ids = itertools.count(1)


def trap(oid: str, source: str, varbinds=(), at: float = 0, connector: str = "traps") -> RawEvent:
    return RawEvent(f"e{next(_ids)}", connector, "snmp_trap", T0 + timedelta(seconds=at), source,
                    trap_payload(oid, varbinds))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


LINK_DOWN, LINK_UP, COLD_START = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.6.3.1.1.5.1"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"


def operator(p: Pipeline, alert_id: str, verb: str, now: datetime):
    """An operator's acknowledge or resolve, as the API hands it to the engine."""
    from opsconductor.engine.pipeline.commands import OperatorCommand, Verb

    return p.command(OperatorCommand(alert_id, Verb(verb), "token:otto", "otto"), now)
