"""The SNMP pollers' sessions on the wire: pysnmp's hlapi, one engine per poller.

Kept apart from poller.py so that pysnmp (~0.1 s of imports) loads only when a poll goes on
the wire; `opsc test` and `opsc validate` build pollers without it."""
from __future__ import annotations

from typing import Any

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch import asyncio as hlapi
from pysnmp.proto import errind

from .targets import BadAnswer, Credentials, NoAnswer, SnmpSession, Target
from .v3 import AUTH_PROTOCOLS, PRIV_PROTOCOLS

BULK_REPETITIONS = 25
MAX_WALK_ROWS = 2000  # per walk: a runaway agent cannot keep a poll going


class Agents:
    """A poller's pysnmp engine: opened at its first poll, closed when it stops."""

    def __init__(self) -> None:
        self.engine = hlapi.SnmpEngine()

    async def session(self, target: Target, timeout: float, retries: int) -> "AgentSession":
        try:
            transport = await hlapi.UdpTransportTarget.create((target.host, target.port),
                                                              timeout=timeout, retries=retries)
        except (OSError, PySnmpError) as exc:  # e.g. the host name does not resolve
            raise NoAnswer(f"cannot reach {target.host}: {str(exc).split(' caused by ')[0]}") from None
        return AgentSession(self.engine, target, transport)

    def close(self) -> None:
        self.engine.close_dispatcher()


def _auth(credentials: Credentials) -> Any:
    """hlapi CommunityData or UsmUserData (targets_of has checked the combination)."""
    if credentials.community is not None:
        return hlapi.CommunityData(credentials.community, mpModel=1)
    auth, priv = credentials.auth_protocol, credentials.priv_protocol
    return hlapi.UsmUserData(
        credentials.user, authKey=credentials.auth_key, privKey=credentials.priv_key,
        authProtocol=AUTH_PROTOCOLS[auth] if auth else hlapi.USM_AUTH_NONE,
        privProtocol=PRIV_PROTOCOLS[priv] if priv else hlapi.USM_PRIV_NONE)


def _plain(value: Any) -> Any:
    """A pysnmp value as plain Python: int, str (text, dotted OID or IP), or None when absent."""
    kind = type(value).__name__
    if kind in ("NoSuchObject", "NoSuchInstance", "EndOfMibView", "Null"):
        return None
    if kind == "IpAddress":
        return ".".join(str(x) for x in value.asNumbers())
    if kind == "ObjectIdentifier":
        return ".".join(str(x) for x in value)
    if kind in ("OctetString", "Opaque"):
        return bytes(value).decode("utf-8", "replace")
    return int(value)


def _why(indication: Any) -> str:
    if isinstance(indication, errind.RequestTimedOut):
        return "request timed out"
    if isinstance(indication, (errind.UnknownUserName, errind.WrongDigest, errind.DecryptionError,
                               errind.UnsupportedSecurityLevel, errind.AuthenticationError)):
        return f"v3 security refused: {indication} (check the v3 user, keys and protocols)"
    return str(indication)


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in oid.strip(".").split("."))


class AgentSession(SnmpSession):
    """GET and WALK against one target with the connector's timeout and retries."""

    def __init__(self, engine: hlapi.SnmpEngine, target: Target, transport: Any):
        self.engine, self.target, self.transport = engine, target, transport
        self.auth = _auth(target.auth)

    def _check(self, indication: Any, status: Any, index: Any, what: str) -> None:
        if indication:
            raise NoAnswer(_why(indication))
        if status:
            raise BadAnswer(f"{what}: SNMP error {status.prettyPrint()} at varbind {index}")

    async def get(self, *oids: str) -> dict[str, Any]:
        result = await hlapi.get_cmd(self.engine, self.auth, self.transport, hlapi.ContextData(),
                                     *(hlapi.ObjectType(hlapi.ObjectIdentity(o)) for o in oids), lookupMib=False)
        indication, status, index, varbinds = result
        self._check(indication, status, index, f"GET {oids[0]}…")
        values = {str(name): _plain(value) for name, value in varbinds}
        return {k: v for k, v in values.items() if v is not None}

    async def walk(self, base: str) -> dict[str, Any]:
        """GETBULK, at most MAX_WALK_ROWS."""
        prefix = _key(base)
        out: dict[str, Any] = {}
        cursor = base
        while len(out) < MAX_WALK_ROWS:
            result = await hlapi.bulk_cmd(self.engine, self.auth, self.transport, hlapi.ContextData(), 0,
                                          BULK_REPETITIONS, hlapi.ObjectType(hlapi.ObjectIdentity(cursor)),
                                          lookupMib=False)
            indication, status, index, varbinds = result
            self._check(indication, status, index, f"WALK {base}")
            rows = [(tuple(name), value) for name, value in varbinds]
            for name, value in rows:
                if name[:len(prefix)] != prefix or type(value).__name__ == "EndOfMibView":
                    return out
                out[".".join(map(str, name))] = _plain(value)
            if not rows or rows[-1][0] <= _key(cursor):
                return out  # no progress: a broken agent
            cursor = ".".join(map(str, rows[-1][0]))
        return out
