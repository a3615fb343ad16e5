"""What an SNMP poller asks and of whom: targets and their credentials read from the config
(secrets revealed), the session interface, and the two ways an answer fails. Apart from
poller.py so that session.py (pysnmp, loaded at the first poll on the wire) and the pollers
share them without importing each other."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ...config.bundle import ConnectorConfig
from ...config.secrets import Secret, SecretUnavailable
from ...errors import ConnectorError, OpscError

DEFAULT_PORT = 161


class NoAnswer(OpscError):
    """The target did not answer usably (timeout, or a v3 authentication/privacy refusal)."""


class BadAnswer(OpscError):
    """The target answered with an SNMP error status: nothing is known about it this time."""


@dataclass(frozen=True)
class Credentials:
    """How a target is asked: a v2c community, or a v3 user with its protocols and keys.
    Plain values (pysnmp's objects are made from them in session.py, on the wire)."""
    community: str | None = None
    user: str | None = None
    auth_protocol: str | None = None  # the config's names: sha256, aes, …
    auth_key: str | None = None
    priv_protocol: str | None = None
    priv_key: str | None = None


@dataclass(frozen=True)
class Target:
    host: str
    name: str
    port: int
    version: str  # "2c" | "3"
    auth: Credentials = field(repr=False)  # holds revealed secrets
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    named: bool = True  # `name` was configured (else the inventory name wins)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _reveal(connector: str, value: Any, where: str) -> str:
    if not isinstance(value, Secret):
        raise ConnectorError(connector, "must be a secret reference such as ${env:NAME}", field=where)
    try:
        return value.reveal()
    except SecretUnavailable as exc:
        raise ConnectorError(connector, f"{value.reference}: {exc}", field=where) from None


def _usm(connector: str, user: Mapping, where: str) -> Credentials:
    auth, priv = user.get("auth_protocol"), user.get("priv_protocol")
    if priv and not auth:
        raise ConnectorError(connector, f"v3 user {user['user']!r}: priv_protocol needs auth_protocol", field=where)
    keys = {k: _reveal(connector, user.get(k), f"{where}.{k}") for k, on in (("auth_key", auth), ("priv_key", priv)) if on}
    for k in (k for k, v in keys.items() if len(v) < 8):
        raise ConnectorError(connector, f"v3 user {user['user']!r}: {k} is shorter than 8 characters "
                                        "(RFC 3414 passphrases need at least 8)", field=where)
    return Credentials(user=user["user"], auth_protocol=auth, auth_key=keys.get("auth_key"),
                       priv_protocol=priv, priv_key=keys.get("priv_key"))


def targets_of(config: ConnectorConfig, defaults: Mapping[str, Any]) -> tuple[Target, ...]:
    """The configured targets with secrets revealed and thresholds merged (code defaults <
    connector `thresholds` < target `thresholds`). Errors name the key."""
    settings = config.settings
    users = {u["user"]: (i, u) for i, u in enumerate(settings.get("v3_users") or ())}
    base = {**defaults, **(settings.get("thresholds") or {})}
    out, names = [], set()
    for i, t in enumerate(settings.get("targets") or ()):
        where = f"targets[{i}]"
        version = str(t.get("version", "2c"))
        if version == "3":
            if t.get("v3_user") not in users:
                raise ConnectorError(config.name, f"v3_user {t.get('v3_user')!r} is not one of v3_users "
                                                  f"({', '.join(users) or 'none configured'})", field=f"{where}.v3_user")
            j, user = users[t["v3_user"]]
            auth = _usm(config.name, user, f"v3_users[{j}]")
        else:
            if t.get("community") is None:
                raise ConnectorError(config.name, "a v2c target needs `community` (a secret reference)",
                                     field=f"{where}.community")
            auth = Credentials(community=_reveal(config.name, t["community"], f"{where}.community"))
        for key, value in (t.get("thresholds") or {}).items():
            if key not in defaults or not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConnectorError(config.name, f"{key}: expected a number, one of {', '.join(defaults)}",
                                     field=f"{where}.thresholds")
        name = str(t.get("name") or t["host"])
        if name in names:
            raise ConnectorError(config.name, f"two targets are named {name!r}; give each a unique `name`", field=where)
        names.add(name)
        out.append(Target(str(t["host"]), name, int(t.get("port", DEFAULT_PORT)), version, auth,
                          MappingProxyType({**base, **(t.get("thresholds") or {})}), bool(t.get("name"))))
    if not out:
        raise ConnectorError(config.name, "no targets configured", field="targets")
    return tuple(out)


class SnmpSession(ABC):
    """GET and WALK against one target: session.AgentSession asks the agent (pysnmp, with the
    connector's timeout and retries); rule tests read the test's answer instead."""

    target: Target

    @abstractmethod
    async def get(self, *oids: str) -> dict[str, Any]:
        """oid → value for the OIDs the agent has (noSuchObject/noSuchInstance are left out)."""

    @abstractmethod
    async def walk(self, base: str) -> dict[str, Any]:
        """Every oid → value under `base`, in OID order."""

    async def table(self, entry: str, columns: Mapping[int, str]) -> dict[str, dict[str, Any]]:
        """index → {column name: value} for the given columns of a table entry OID."""
        rows: dict[str, dict[str, Any]] = {}
        for column, label in columns.items():
            base = f"{entry}.{column}"
            for oid, value in (await self.walk(base)).items():
                if value is not None:
                    rows.setdefault(oid[len(base) + 1:], {})[label] = value
        return rows
