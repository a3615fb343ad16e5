"""POST /api/v1/sync and /api/v1/config/rollback: auth before parsing, statuses, envelopes.
(The apply itself runs on real git repositories in tests/test_gitops.py.)"""
from __future__ import annotations

import hashlib
import hmac
import json

from web_fixtures import ADMIN, OPERATOR, FakeEngine, bearer

SHA = "4e1d9a27c3b8f05e6a1d2c3b4a5f6e7d8c9b0a1f"


def signed(body: bytes, secret: bytes = b"hook-secret") -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json"}


def git_engine() -> FakeEngine:
    engine = FakeEngine()
    engine.git_secret = b"hook-secret"
    return engine


def test_not_configured_is_404(client) -> None:
    r = client.post("/api/v1/sync", content=b"{}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "OPSC_GIT_URL" in r.json()["error"]["message"]


def test_signed_push_applies_and_bad_signature_touches_nothing(client_for) -> None:
    engine = git_engine()
    client = client_for(engine=engine)
    body = json.dumps({"ref": "refs/heads/main", "after": SHA}).encode()
    r = client.post("/api/v1/sync", content=body, headers=signed(body))
    assert r.status_code == 200 and r.json()["status"] == "applied"
    assert engine.syncs == [("refs/heads/main", SHA, False, "webhook")]
    for headers in (signed(body, b"wrong"), {}, {"X-Gitlab-Token": "nope"}):
        r = client.post("/api/v1/sync", content=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    garbage = b"<not json>"
    r = client.post("/api/v1/sync", content=garbage, headers=signed(b"other body"))
    assert r.status_code == 401  # refused before the body is parsed
    assert len(engine.syncs) == 1


def test_other_branch_is_202_and_bad_body_is_400(client_for) -> None:
    engine = git_engine()
    client = client_for(engine=engine)
    body = json.dumps({"ref": "refs/heads/feature", "after": SHA}).encode()
    r = client.post("/api/v1/sync", content=body, headers=signed(body))
    assert r.status_code == 202 and r.json()["status"] == "ignored"
    bad = b'{"ref": "refs/heads/main", "after": "xyz"}'
    r = client.post("/api/v1/sync", content=bad, headers=signed(bad))
    assert r.status_code == 400 and "40-character" in r.json()["error"]["message"]


def test_admin_token_syncs_the_followed_ref_and_may_force(client_for) -> None:
    engine = git_engine()
    client = client_for(engine=engine)
    r = client.post("/api/v1/sync?force=true", headers=bearer(ADMIN))
    assert r.status_code == 200 and engine.syncs[-1] == (None, None, True, "admin (OPSC_ADMIN_TOKEN)")
    r = client.post("/api/v1/sync", headers=bearer(OPERATOR))
    assert r.status_code == 403


def test_rollback_needs_admin(client_for) -> None:
    client = client_for(engine=git_engine())
    assert client.post("/api/v1/config/rollback").status_code == 401
    assert client.post("/api/v1/config/rollback", headers=bearer(OPERATOR)).status_code == 403
    r = client.post("/api/v1/config/rollback", headers=bearer(ADMIN))
    assert r.status_code == 200 and r.json()["status"] == "applied"
