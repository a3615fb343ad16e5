"""Property test: requests generated from /api/v1/openapi.json (schemathesis) never get a 500,
and every answer matches the document (status code, content type, body schema).

Schemathesis' own pytest plugin does not run on pytest 9 (it reads private pytest
attributes), so each operation's hypothesis strategy is driven here with @given.
"""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a test dependency (pip install schemathesis)")
from hypothesis import HealthCheck, given, settings as hsettings  # noqa: E402
from schemathesis import checks  # noqa: E402

from web_fixtures import ADMIN, FakeEngine, bearer, make_alert  # noqa: E402
from opsconductor.engine.model import Severity  # noqa: E402
from opsconductor.web.openapi import PATHS  # noqa: E402

CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]
# /api/v1/stream is endless (covered by the browser test).
OPERATIONS = [(m.upper(), p) for p, ops in PATHS.items() for m in ops if p != "/api/v1/stream"]


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_never_fails_and_matches_its_document(client_for, add_alerts, db_url, method, path):
    ids = add_alerts(make_alert(severity=Severity.CRITICAL), make_alert(), make_alert(category="power"))
    client = client_for(engine=FakeEngine(db_url))
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
    operation = schema[path][method]
    calls = {"n": 0}

    @given(case=operation.as_strategy())
    @hsettings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        calls["n"] += 1
        if "alert_id" in (case.path_parameters or {}) and calls["n"] % 3 == 0:
            case.path_parameters["alert_id"] = ids[calls["n"] % len(ids)]  # real alerts too, not only 404s
        # Every other case as admin (writes go past auth into the store), the rest anonymous.
        case.call_and_validate(headers=bearer(ADMIN) if calls["n"] % 2 else None, checks=CHECKS)

    run()
    assert calls["n"] > 0
