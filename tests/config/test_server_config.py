"""The server settings file: named tokens with roles as secret references, read access, git keys."""
from __future__ import annotations

from pathlib import Path

import pytest

from opsconductor.engine.config.server import load_server_config
from opsconductor.engine.errors import ConfigError
from opsconductor.engine.gitops import GitSettings
from opsconductor.engine.service import ServeSettings, web_settings

GOOD = """
read_access: viewer
dashboard_url: https://noc.example.net
tokens:
  - {name: alice, role: operator, token: "${env:ALICE_TOKEN}"}
  - {name: wallscreen, role: viewer, token: "${file:wall.token}"}
git:
  url: file:///srv/config.git
  ref: production
  sync_secret: ${env:SYNC}
  poll_interval: 2m
"""


def test_loads_tokens_roles_and_git(tmp_path: Path) -> None:
    (tmp_path / "wall.token").write_text("wall-token-123\n")
    (tmp_path / "server.yaml").write_text(GOOD)
    cfg = load_server_config(tmp_path / "server.yaml", {"ALICE_TOKEN": "alice-secret-1", "SYNC": "s"})
    assert cfg.read_access == "viewer" and cfg.dashboard_url == "https://noc.example.net"
    assert [(t.name, t.role, t.token.reveal()) for t in cfg.tokens] == [
        ("alice", "operator", "alice-secret-1"), ("wallscreen", "viewer", "wall-token-123")]
    assert "alice-secret-1" not in repr(cfg)
    git = GitSettings.from_env({}, tmp_path, cfg.git)
    assert (git.url, git.ref, git.poll_interval, git.secret.reveal()) == ("file:///srv/config.git", "production", 120, "s")
    assert GitSettings.from_env({"OPSC_GIT_REF": "main"}, tmp_path, cfg.git).ref == "main"  # the environment wins
    web = web_settings(ServeSettings(config_dir=tmp_path, database_url=None, data_dir=None, server=cfg))
    assert [(t.name, t.role) for t in web.tokens] == [("alice", "operator"), ("wallscreen", "viewer")]
    assert web.read_access == "viewer" and web.dashboard_url == "https://noc.example.net"


def test_problems_are_located(tmp_path: Path) -> None:
    (tmp_path / "server.yaml").write_text(
        "tokens:\n  - {name: bob, role: superuser, token: plaintext}\n  - {name: bob, role: viewer, token: '${env:NOPE}'}\n")
    with pytest.raises(ConfigError) as err:
        load_server_config(tmp_path / "server.yaml", {})
    text = [p.format().split("\n")[0] for p in err.value.problems]
    assert any(t.startswith(f"{tmp_path}/server.yaml:2:23: $.tokens[0].role: 'superuser' is not one of") for t in text)
    assert any("$.tokens[0].token: a secret must be a reference" in t for t in text)
    (tmp_path / "server.yaml").write_text(
        "tokens:\n  - {name: bob, role: viewer, token: '${env:NOPE}'}\n  - {name: bob, role: viewer, token: '${env:B}'}\n")
    with pytest.raises(ConfigError) as err:
        load_server_config(tmp_path / "server.yaml", {"B": "x"})
    messages = [p.message for p in err.value.problems]
    assert "${env:NOPE}: environment variable NOPE is not set" in messages
    assert "token name 'bob' is used twice" in messages


def test_no_file_means_defaults() -> None:
    cfg = load_server_config(None)
    assert cfg.read_access == "public" and cfg.tokens == () and cfg.git is None
