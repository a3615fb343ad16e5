"""SNMPv3 traps and informs: pysnmp's message processing and USM, fed by the receiver's sockets.

The receiver reads every datagram itself (see receiver.py). A datagram whose version
field is 3 is handed to `V3Engine.feed` in the event-loop thread, which pushes it into
pysnmp's message dispatcher exactly as pysnmp's own UDP transport would. pysnmp checks
the user, the digest and the time window, decrypts, answers informs and discovery probes
(through `_SocketTransport.send_message`, i.e. `sendto` on the same socket) and calls
our notification callback. `feed` then says what happened to that one datagram, read
from the callback and from the USM/MPD counters pysnmp keeps.

USM users: each configured user is registered twice, once localized to the sender's
`engine_id` (v3 traps: the sender is authoritative) and once to our own engine id
(v3 informs: the receiver is authoritative; senders discover our id with a probe).
A user without `engine_id` can only send informs. An inform's Response is held and
sent by the receiver once the event is journaled, as for v2c.
"""
from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any, Mapping

from pysnmp.carrier.asyncio.base import AbstractAsyncioTransport
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
from pysnmp.entity import config as pconfig
from pysnmp.entity import engine as pengine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto import rfc1902, rfc3411

from ...config.secrets import SecretUnavailable
from ...errors import ConnectorError
from .ber import TrapMessage, VarBind
from .convert import ConvertError, Notification, notification_of

AUTH_PROTOCOLS = {
    "md5": pconfig.USM_AUTH_HMAC96_MD5,
    "sha": pconfig.USM_AUTH_HMAC96_SHA,
    "sha224": pconfig.USM_AUTH_HMAC128_SHA224,
    "sha256": pconfig.USM_AUTH_HMAC192_SHA256,
    "sha384": pconfig.USM_AUTH_HMAC256_SHA384,
    "sha512": pconfig.USM_AUTH_HMAC384_SHA512,
}
# AES-192/256 key extension as in draft-blumenthal-aes-usm-04, which net-snmp uses for
# AES-192 / AES-256; Cisco's "Reeder" variant (pysnmp's USM_PRIV_CFB192_AES) differs.
PRIV_PROTOCOLS = {
    "des": pconfig.USM_PRIV_CBC56_DES,
    "3des": pconfig.USM_PRIV_CBC168_3DES,
    "aes": pconfig.USM_PRIV_CFB128_AES,
    "aes192": pconfig.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "aes256": pconfig.USM_PRIV_CFB256_AES_BLUMENTHAL,
}

# outcome of one datagram (named after the receiver's counters)
NOTIFICATION = "decoded"
UNKNOWN_USER = "dropped_v3_unknown_user"  # no such user (for that engine id)
AUTH_FAILED = "dropped_v3_auth"  # wrong digest, decryption error, outside the time window, security level
DISCOVERY = "v3_discovery"  # an engine-id discovery probe, answered with a Report
MALFORMED = "malformed"  # BER/parse errors, invalid messages, a notification without snmpTrapOID.0
DROPPED = "dropped_unsupported"  # anything else pysnmp refused (not a notification PDU, unknown context …)

_COUNTERS = (
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames", UNKNOWN_USER),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests", AUTH_FAILED),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors", AUTH_FAILED),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsNotInTimeWindows", AUTH_FAILED),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels", AUTH_FAILED),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownEngineIDs", DISCOVERY),
    ("__SNMPv2-MIB", "snmpInASNParseErrs", MALFORMED),
    ("__SNMP-MPD-MIB", "snmpInvalidMsgs", MALFORMED),
    ("__SNMP-MPD-MIB", "snmpUnknownSecurityModels", MALFORMED),
)
_TYPE_NAMES = {"Integer": "Integer32"}  # pysnmp class name -> the name ber.py uses


@dataclass(frozen=True, slots=True)
class V3Result:
    outcome: str
    notification: Notification | None = None
    inform: bool = False  # an InformRequest: its Response is in `replies`, not sent yet
    detail: str = ""
    # (datagram, address) pysnmp wrote for an inform: the receiver sends them once the
    # event is journaled, so an answered inform is never lost (its sender retries otherwise)
    replies: tuple[tuple[bytes, tuple], ...] = ()


class _SocketTransport(AbstractAsyncioTransport):
    """A pysnmp transport over a socket the receiver owns: it sends, the receiver reads."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.held: list[tuple[bytes, tuple]] | None = None  # while set, what pysnmp sends is kept here
        self.ADDRESS_TYPE = udp6.Udp6TransportAddress if sock.family == socket.AF_INET6 else udp.UdpTransportAddress
        self._local = sock.getsockname()

    def deliver(self, data: bytes, addr: tuple) -> None:
        if self._callback_function is None:
            raise ConnectorError("snmp_trap", "pysnmp transport used after close")
        address = self.ADDRESS_TYPE(addr).set_local_address(self._local)
        self._callback_function(self, address, data)

    def send_message(self, outgoingMessage: Any, transportAddress: Any) -> None:
        address = tuple(transportAddress)
        if self._sock.family == socket.AF_INET6 and len(address) == 2:
            address = (*address, 0, 0)
        if self.held is not None:
            self.held.append((bytes(outgoingMessage), address))
            return
        try:
            self._sock.sendto(bytes(outgoingMessage), address)
        except OSError:
            pass  # the peer retries (inform) or the socket is closing; nothing to keep

    def close_transport(self) -> None:
        AbstractAsyncioTransport.close_transport(self)


class _Receiver(ntfrcv.NotificationReceiver):
    """Remembers whether the PDU pysnmp just processed was an inform."""

    confirmed = False

    def process_pdu(self, snmpEngine, messageProcessingModel, securityModel, securityName, securityLevel,
                    contextEngineId, contextName, pduVersion, PDU, *rest):
        self.confirmed = PDU.tagSet in rfc3411.CONFIRMED_CLASS_PDUS
        return super().process_pdu(snmpEngine, messageProcessingModel, securityModel, securityName, securityLevel,
                                   contextEngineId, contextName, pduVersion, PDU, *rest)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text[2:] if text.lower().startswith("0x") else text)


def _reveal(connector: str, user: Mapping, key: str) -> str | None:
    secret = user.get(key)
    if secret is None:
        return None
    try:
        return secret.reveal() if hasattr(secret, "reveal") else str(secret)
    except SecretUnavailable as exc:
        raise ConnectorError(connector, f"v3 user {user['user']!r}: {key}: {exc}", field="v3_users") from exc


def varbind_of(oid: Any, value: Any) -> VarBind:
    """A pysnmp (ObjectName, value) pair in ber.py's form (same type names, same values)."""
    name = type(value).__name__
    name = _TYPE_NAMES.get(name, name)
    text = ".".join(str(x) for x in oid)
    if name in ("Null", "NoSuchObject", "NoSuchInstance", "EndOfMibView"):
        return VarBind(text, name, None)
    if name in ("OctetString", "Opaque"):
        return VarBind(text, name, bytes(value))
    if name == "IpAddress":
        return VarBind(text, name, ".".join(str(x) for x in value.asNumbers()))
    if name == "ObjectIdentifier":
        return VarBind(text, name, ".".join(str(x) for x in value))
    return VarBind(text, name, int(value))


class V3Engine:
    """One pysnmp SnmpEngine per receiver; lives in the event-loop thread."""

    def __init__(self, connector: str, users: tuple[Mapping, ...], loop: asyncio.AbstractEventLoop):
        self._connector = connector
        self._engine = pengine.SnmpEngine()
        self._dispatcher = AsyncioDispatcher(loop=loop)
        self._engine.register_transport_dispatcher(self._dispatcher)
        self._transports: list[_SocketTransport] = []
        for user in users:
            self._add_user(user)
        self._ntf = _Receiver(self._engine, self._on_notification)
        builder = self._engine.get_mib_builder()
        self._counters = [(builder.import_symbols(mod, sym)[0], outcome) for mod, sym, outcome in _COUNTERS]
        self._last: tuple | None = None

    @property
    def engine_id(self) -> bytes:
        (snmp_engine_id,) = self._engine.get_mib_builder().import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineID")
        return bytes(snmp_engine_id.syntax)

    def _add_user(self, user: Mapping) -> None:
        name = user["user"]
        auth = user.get("auth_protocol")
        priv = user.get("priv_protocol")
        if auth is not None and auth not in AUTH_PROTOCOLS:
            raise ConnectorError(self._connector, f"v3 user {name!r}: unknown auth_protocol {auth!r}", field="v3_users")
        if priv is not None and priv not in PRIV_PROTOCOLS:
            raise ConnectorError(self._connector, f"v3 user {name!r}: unknown priv_protocol {priv!r}", field="v3_users")
        kwargs = dict(
            authProtocol=AUTH_PROTOCOLS[auth] if auth else pconfig.USM_AUTH_NONE,
            authKey=_reveal(self._connector, user, "auth_key") if auth else None,
            privProtocol=PRIV_PROTOCOLS[priv] if priv else pconfig.USM_PRIV_NONE,
            privKey=_reveal(self._connector, user, "priv_key") if priv else None,
        )
        for key in ("authKey", "privKey"):
            if kwargs[key] is not None and len(kwargs[key]) < 8:
                raise ConnectorError(self._connector, f"v3 user {name!r}: {key[:-3]}_key is shorter than 8 characters "
                                     "(RFC 3414 passphrases need at least 8)", field="v3_users")
        try:
            pconfig.add_v3_user(self._engine, name, **kwargs)  # our engine id: informs
            if user.get("engine_id"):
                pconfig.add_v3_user(self._engine, name, securityEngineId=rfc1902.OctetString(_hex(user["engine_id"])),
                                    **kwargs)  # the sender's engine id: traps
        except ValueError as exc:
            raise ConnectorError(self._connector, f"v3 user {name!r}: engine_id: {exc}", field="v3_users") from exc

    def add_socket(self, sock: socket.socket) -> int:
        """Register one of the receiver's sockets; returns its index for `feed`."""
        transport = _SocketTransport(sock)
        base = udp6.DOMAIN_NAME if sock.family == socket.AF_INET6 else udp.DOMAIN_NAME
        pconfig.add_transport(self._engine, base + (len(self._transports) + 1,), transport)
        self._transports.append(transport)
        return len(self._transports) - 1

    def _on_notification(self, snmpEngine, stateReference, contextEngineId, contextName, varBinds, cbCtx) -> None:
        self._last = (self._ntf.confirmed, [varbind_of(oid, value) for oid, value in varBinds])

    def _counts(self) -> list[int]:
        return [int(symbol.syntax) for symbol, _ in self._counters]

    def feed(self, index: int, data: bytes, addr: tuple) -> V3Result:
        """Process one SNMPv3 datagram that arrived on socket `index` from `addr`."""
        before = self._counts()
        self._last = None
        transport = self._transports[index]
        transport.held = []
        try:
            transport.deliver(data, addr)
        except Exception as exc:  # pysnmp raising on hostile input must not stop the receiver
            return V3Result(MALFORMED, detail=f"pysnmp: {type(exc).__name__}: {exc}"[:200])
        finally:
            held, transport.held = transport.held, None
        if self._last is not None:
            inform, varbinds = self._last
            self._last = None
            msg = TrapMessage(1, b"", "inform" if inform else "trap_v2", tuple(varbinds))
            try:
                return V3Result(NOTIFICATION, notification_of(msg), inform, replies=tuple(held) if inform else ())
            except ConvertError as exc:  # not accepted, so not answered (as a v2c inform)
                return V3Result(MALFORMED, inform=inform, detail=str(exc))
        for reply, to in held:  # discovery reports and errors: answered at once
            transport.send_message(reply, to)
        after = self._counts()
        for (symbol, outcome), b, a in zip(self._counters, before, after):
            if a != b:
                return V3Result(outcome, detail=symbol.label if hasattr(symbol, "label") else "")
        return V3Result(DROPPED, detail="refused by pysnmp")

    def close(self) -> None:
        self._ntf.close(self._engine)
        self._dispatcher.close_dispatcher()
        self._engine.unregister_transport_dispatcher()
