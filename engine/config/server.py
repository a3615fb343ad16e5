"""The optional server settings file (OPSC_SERVER_CONFIG): who may use the dashboard and
API (named tokens with roles, as secret references) and GitOps keys. Read by the same YAML
reader and schema machinery as the config tree, so its errors are located the same way."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

from ..errors import ConfigError, Problem
from .durations import parse_duration
from .schema import problems_from
from .secrets import Secret, resolve
from .yamlfile import load_yaml


# What schemas/server.json allows; the web layer's access checks take these types.
Role = Literal["viewer", "operator", "admin"]  # in increasing power
ReadAccess = Literal["public", "viewer"]


@dataclass(frozen=True)
class TokenConfig:
    name: str
    role: Role
    token: Secret


@dataclass(frozen=True)
class ServerConfig:
    read_access: ReadAccess = "public"
    dashboard_url: str | None = None
    tokens: tuple[TokenConfig, ...] = ()
    git: Mapping[str, Any] | None = None  # url, ref, sync_secret (Secret), poll_interval (seconds)
    replay_gate: Mapping[str, Any] | None = None  # since (text), max_extra_pages: replay of synced commits


def load_server_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> ServerConfig:
    """The settings file at `path` (None: defaults). Raises ConfigError with every located problem."""
    if not path:
        return ServerConfig()
    env = os.environ if environ is None else environ
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(file), 0, 0, "$", f"cannot read the server settings file: {exc.strerror}")]) from None
    doc, problems = load_yaml(str(file), raw)
    if doc is not None:
        problems = problems_from(doc, "server", doc.data)
    if problems:
        raise ConfigError(problems)
    assert doc is not None  # no problems: a document
    data = doc.data
    tokens, missing = [], []
    for i, t in enumerate(data.get("tokens", ())):
        secret = resolve(t["token"], env, file.parent)
        if not secret.available:
            m = doc.mark(("tokens", i, "token"))
            missing.append(Problem(str(file), m.line, m.col, f"$.tokens[{i}].token", f"{t['token']}: {secret.problem}"))
        tokens.append(TokenConfig(t["name"], t["role"], secret))
    names = [t.name for t in tokens]
    for i, name in enumerate(names):
        if name in names[:i]:
            m = doc.mark(("tokens", i, "name"))
            missing.append(Problem(str(file), m.line, m.col, f"$.tokens[{i}].name", f"token name {name!r} is used twice"))
    if missing:
        raise ConfigError(missing)
    git = data.get("git")
    if git is not None:
        git = {"url": git["url"], "ref": git.get("ref", "main"),
               "sync_secret": resolve(git["sync_secret"], env, file.parent) if "sync_secret" in git else None,
               "poll_interval": parse_duration(git["poll_interval"]) if "poll_interval" in git else None}
    return ServerConfig(read_access=data.get("read_access", "public"), dashboard_url=data.get("dashboard_url"),
                        tokens=tuple(tokens), git=git, replay_gate=data.get("replay_gate"))
