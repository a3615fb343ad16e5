"""Hostile SNMP datagrams with valid traps interleaved, sent to a live TrapReceiver over
real UDP: the one generator and driver behind tests/connectors/snmp/test_trap_faults.py
(20,000 datagrams, in `make test`) and bench/faults_traps.py (1,000,000, figures).

Every `VALID_EVERY`-th datagram is a valid trap (v2c, or v1 every third time) numbered by
an INTEGER mark; the others are mutants of real packets and structured attacks aimed at
the decoder's edges (huge INTEGERs where a 32-bit field is expected, long OIDs, deep
string nesting, 8-octet lengths, unsigned values without their leading 00, SNMPv3
garbage, wrong communities). The sender keeps a bounded amount in flight (counted by the
receiver's `received`), so the kernel's socket buffer never drops: a valid trap that does
not arrive was lost by the receiver. Bounded: fixed seeds, fixed counts, deadlines.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType

from opsconductor.engine.config.bundle import ConnectorConfig, Source
from opsconductor.engine.config.secrets import Secret
from opsconductor.engine.connectors.snmp.ber import BerError, decode_message
from opsconductor.engine.connectors.snmp.convert import ConvertError, notification_of
from opsconductor.engine.connectors.snmp.receiver import TrapReceiver
from opsconductor.engine.connectors.snmp.trapstats import ReceiverStatsSnapshot
from opsconductor.engine.connectors.snmp.trapwire import encode_response, payload_of
from waiting import aeventually

COMMUNITY = b"fuzz-community"
VALID_EVERY = 100
IN_FLIGHT_BYTES = 96 * 1024  # sent but not yet read; well under any kernel's receive buffer
TRUESIZE = 1024  # what the kernel charges a small datagram beyond its payload, about

# An SNMPv3 authPriv linkDown as net-snmp's snmptrap sent it (user noc, SHA/AES, engine
# 8000000001020304aabbccdd): mutants of it exercise pysnmp's USM path.
V3_TRAP = bytes.fromhex(
    "3081b3020103301102045bd88866020300ffe304010302010304353033040c8000000001020304aabbccdd02010102030285c2"
    "04036e6f63040c6ab620839a5b870c2d2fb73104089ce2e23f51fe23740464e9ab6aa7491b692d4d34ec56071c92870895b4eb"
    "d10eff71c897ac3935d4d1589bcdd965521a82dfa7be870b19eb1c46ae24e6ea387663e5429eb68f6299a4a635074d25ffbe95"
    "7d792692b53ee1feaea4fd85bf2f571718a9db30b502e4d0be47ad1331")
V3_USER = {"user": "noc", "auth_protocol": "sha", "auth_key": Secret("${env:A}", "authpass123"),
           "priv_protocol": "aes", "priv_key": Secret("${env:P}", "privpass456"),
           "engine_id": "0x8000000001020304aabbccdd"}


# --------------------------------------------------------------------------- BER builders


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def oid(text: str) -> bytes:
    arcs = [int(a) for a in text.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return tlv(0x06, bytes(out))


def integer(v: int, tag: int = 0x02) -> bytes:
    return tlv(tag, v.to_bytes(v.bit_length() // 8 + 1, "big", signed=True))


MARK = "1.3.6.1.2.1.2.2.1.1.10230"  # carries the number of a valid trap, and appears nowhere else
MARK_OID = oid(MARK)
NOISE_OID = oid("1.3.6.1.2.1.2.2.1.1.99")  # the same role in hostile datagrams


def varbind(name: bytes, value: bytes) -> bytes:
    return tlv(0x30, name + value)


def v2c(varbinds: list[bytes], community: bytes = COMMUNITY, *, version: bytes = integer(1),
        request_id: bytes = integer(4711), pdu_tag: int = 0xA7) -> bytes:
    head = [varbind(oid("1.3.6.1.2.1.1.3.0"), integer(4523311, 0x43)),
            varbind(oid("1.3.6.1.6.3.1.1.4.1.0"), oid("1.3.6.1.6.3.1.1.5.3"))]
    pdu = tlv(pdu_tag, request_id + integer(0) + integer(0) + tlv(0x30, b"".join(head + varbinds)))
    return tlv(0x30, version + tlv(0x04, community) + pdu)


def v1(varbinds: list[bytes], community: bytes = COMMUNITY, *, generic: bytes = integer(6),
       specific: bytes = integer(3), stamp: bytes = integer(123456, 0x43)) -> bytes:
    pdu = tlv(0xA4, oid("1.3.6.1.4.1.534.1.11.4.1") + tlv(0x40, b"\x0a\x01\x01\x02") + generic + specific + stamp
              + tlv(0x30, b"".join(varbinds)))
    return tlv(0x30, integer(0) + tlv(0x04, community) + pdu)


def valid(mark: int) -> bytes:
    """A valid trap carrying `mark` (v1 every third one, else v2c)."""
    vbs = [varbind(MARK_OID, integer(mark)), varbind(oid("1.3.6.1.2.1.2.2.1.2.10230"), tlv(0x04, b"ge-0/0/1"))]
    return v1(vbs) if mark % 3 == 0 else v2c(vbs)


def mark_of(payload: dict) -> int | None:
    for vb in payload.get("varbinds", ()):
        if vb["oid"] == MARK and vb["type"] == "Integer32":
            return vb["value"]
    return None


# --------------------------------------------------------------------------- hostile datagrams


def _huge(rng: random.Random) -> bytes:
    """An INTEGER of 500..2,500 octets: more decimal digits than int → str allows."""
    body = rng.randbytes(rng.randrange(500, 2500))
    return tlv(0x02, bytes([rng.choice((0x01, 0x7F, 0x80, 0xFF))]) + body)


def structured(rng: random.Random) -> bytes:
    """One attack on a decoder edge, built from scratch."""
    kind = rng.randrange(14)
    mark = varbind(NOISE_OID, integer(rng.randrange(1 << 31)))
    if kind == 0:  # a huge value in a varbind, with an unsigned or signed tag
        return v2c([varbind(NOISE_OID, bytes([rng.choice((0x02, 0x41, 0x42, 0x43, 0x46))]) + _huge(rng)[1:])])
    if kind == 1:  # a huge version field
        return v2c([mark], version=_huge(rng))
    if kind == 2:  # a huge request-id
        return v2c([mark], request_id=_huge(rng))
    if kind == 3:  # v1 with a huge generic-trap, specific-trap or time-stamp
        which = rng.randrange(3)
        huge = _huge(rng)
        return v1([mark], generic=huge if which == 0 else integer(6), specific=huge if which == 1 else integer(3),
                  stamp=(b"\x43" + huge[1:]) if which == 2 else integer(1, 0x43))
    if kind == 4:  # unsigned values without their leading 00 (must decode, as net-snmp reads them)
        tag = rng.choice((0x41, 0x42, 0x43, 0x46))
        raw = bytes([rng.randrange(0x80, 0x100)]) + rng.randbytes(rng.randrange(0, 8))
        return v2c([mark, varbind(oid("1.3.6.1.4.1.99999.1"), tlv(tag, raw))])
    if kind == 5:  # a long OID: thousands of arcs, or arcs of 20 continuation octets
        arcs = ".".join(str(rng.randrange(1 << rng.choice((7, 32, 140)))) for _ in range(rng.randrange(2, 800)))
        return v2c([mark, varbind(oid("1.3." + arcs), integer(1))])
    if kind == 6:  # deep nesting of constructed OCTET STRINGs
        x = tlv(0x04, b"ab")
        for _ in range(rng.randrange(50, 400)):
            x = tlv(0x24, x)
        return v2c([mark, varbind(oid("1.3.6.1.4.1.99999.2"), x)])
    if kind == 7:  # 8-octet (or longer) length fields claiming gigabytes
        n = rng.choice((8, 9, 127))
        return b"\x30" + bytes([0x80 | n]) + b"\xff" * n + v2c([mark])[2:]
    if kind == 8:  # many varbinds
        return v2c([mark] * rng.randrange(100, 400))
    if kind == 9:  # SNMPv3-looking garbage
        return tlv(0x30, integer(3) + rng.randbytes(rng.randrange(0, 200)))
    if kind == 10:  # a valid trap with the wrong community
        return v2c([mark], community=b"wrong")
    if kind == 11:  # an inform whose varbinds carry huge values (the Response echoes them)
        return v2c([varbind(NOISE_OID, _huge(rng))], pdu_tag=0xA6)
    if kind == 12:  # v1 with a huge specific-trap that fits no OID arc
        return v1([mark], specific=integer(rng.randrange(1 << 32, 1 << 200)))
    return rng.randbytes(rng.randrange(0, 2000))  # noise


def mutate(rng: random.Random, seed: bytes) -> bytes:
    b = bytearray(seed)
    for _ in range(rng.choice((1, 1, 2, 3))):
        op = rng.randrange(7)
        at = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(at, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            b.insert(at, rng.choice((0x00, 0x80, 0x81, 0x84, 0x88, 0xFF, 0x30, 0x04, 0x02, 0x06, 0x24)))
        elif op == 2:
            del b[at:]
        elif op == 3 and b:
            b[min(at, len(b) - 1)] = rng.randrange(256)
        elif op == 4:
            b[at:at] = rng.randbytes(rng.randrange(1, 8))
        elif op == 5:  # splice in a huge INTEGER
            b[at:at] = _huge(rng)
        else:
            end = min(len(b), at + rng.randrange(1, 8))
            b[at:at] = b[at:end]
    return bytes(b)


def datagrams(total: int, seed: int):
    """(datagram, mark or None) × total: every VALID_EVERY-th one a valid trap, the rest hostile."""
    rng = random.Random(seed)
    # nothing here is one bit flip away from MARK (…1.1.10230): ifDescr of another ifIndex
    noise = [varbind(NOISE_OID, integer(7)), varbind(oid("1.3.6.1.2.1.2.2.1.2.99"), tlv(0x04, b"ge-0/0/1"))]
    seeds = [v2c(noise), v1(noise), v2c(noise, pdu_tag=0xA6), V3_TRAP]
    mark = 0
    for i in range(total):
        if i % VALID_EVERY == VALID_EVERY - 1:
            yield valid(mark), mark
            mark += 1
        elif i % 3 == 0:
            yield structured(rng), None
        else:
            yield mutate(rng, rng.choice(seeds)), None


def crashes(data: bytes) -> str | None:
    """What the receiver's fast path would raise on `data` beyond BerError/ConvertError (a bug), else None."""
    try:
        msg = decode_message(data)
        if msg.pdu_type == "inform":
            encode_response(msg)
        payload_of("v2c", notification_of(msg))
    except (BerError, ConvertError):
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


# --------------------------------------------------------------------------- the live run


def config(**extra) -> ConnectorConfig:
    settings = {"listen": ("127.0.0.1:0",), "communities": (Secret("${env:C}", COMMUNITY.decode()),),
                "v3_users": (MappingProxyType(V3_USER),), **extra}
    return ConnectorConfig(name="fuzz", type="snmp_trap", enabled=True, display_name="fuzz", poll_interval=60.0,
                           timeout=10.0, retries=3, tags=(), category=None, severity_map=MappingProxyType({}),
                           settings=MappingProxyType(settings), source=Source("connectors.d/fuzz.yaml", 1))


class _Tracebacks(logging.Handler):
    """Counts log records that carry a traceback, and every warning (the rate-limited log)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.tracebacks = 0
        self.warnings = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.stack_info:
            self.tracebacks += 1
        if record.levelno >= logging.WARNING:
            self.warnings += 1
            if len(self.samples) < 20:
                self.samples.append(record.getMessage()[:300])


class _StderrTracebacks:
    """stderr, counting 'Traceback' (logging's own "--- Logging error ---" and thread deaths)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.count = 0

    def write(self, text: str) -> int:
        self.count += text.count("Traceback")
        return self.inner.write(text)

    def flush(self) -> None:
        self.inner.flush()


@dataclass
class FaultRun:
    sent: int = 0
    valid_sent: int = 0
    valid_received: int = 0
    lost_marks: list[int] = field(default_factory=list)
    duplicates: int = 0
    unexpected: int = 0
    tracebacks: int = 0  # log records with a traceback + 'Traceback' on stderr + dead threads
    warnings: int = 0
    warning_samples: list[str] = field(default_factory=list)
    crashing: list[tuple[bytes, str]] = field(default_factory=list)  # found offline by `crashes`
    stats: ReceiverStatsSnapshot | None = None
    seconds: float = 0.0


def run(total: int, seed: int = 20260101, *, find_crashes: bool = True, deadline: float = 600.0) -> FaultRun:
    """Send `total` datagrams to a fresh receiver; return what happened."""
    result = FaultRun()
    packets = list(datagrams(total, seed)) if total <= 50_000 else None  # long runs generate as they go
    if find_crashes and packets is not None:
        result.crashing = [(d, why) for d, m in packets if m is None and (why := crashes(d))]
    marks: list[int] = []
    handler = _Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    stderr = _StderrTracebacks(sys.stderr)
    sys.stderr = stderr
    died: list[str] = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: died.append(f"{args.exc_type.__name__}: {args.exc_value}")

    def sink(events) -> None:
        for e in events:
            m = mark_of(e.payload)
            if m is not None and e.payload["trap_oid"] in ("1.3.6.1.6.3.1.1.5.3", "1.3.6.1.4.1.534.1.11.4.1.0.3"):
                marks.append(m)

    async def scenario() -> None:
        rx = TrapReceiver(config(), sink)
        await rx.start()
        started = time.monotonic()
        try:
            target = rx.bound_addresses[0]
            failure: list[BaseException] = []

            def send() -> None:
                try:
                    _send(rx, target, packets if packets is not None else datagrams(total, seed), result,
                          started + deadline)
                except BaseException as exc:
                    failure.append(exc)

            sender = threading.Thread(target=send, name="fuzz-sender")
            sender.start()
            await asyncio.to_thread(sender.join, deadline)
            if failure:
                raise failure[0]
            with contextlib.suppress(AssertionError):  # what never arrived is counted below: the run reports it
                await aeventually(lambda: rx.stats.received >= result.sent and not rx.stats.pending,
                                  "the receiver read and handed off every datagram sent", timeout=30)
        finally:
            await rx.stop()  # joins the readers, then hands the sink what they queued: the last batch too
            result.seconds = time.monotonic() - started
        result.stats = rx.stats.snapshot()

    try:
        asyncio.run(scenario())
    finally:
        root.removeHandler(handler)
        sys.stderr = stderr.inner
        threading.excepthook = old_hook
    got = set(marks)
    result.valid_received = len(got & set(range(result.valid_sent)))
    result.unexpected = len(got) - result.valid_received  # a mutant that decoded as a valid trap: a harness bug
    result.duplicates = len(marks) - len(got)
    result.lost_marks = [m for m in range(result.valid_sent) if m not in got]
    result.tracebacks = handler.tracebacks + stderr.count + len(died)
    result.warnings = handler.warnings
    result.warning_samples = handler.samples + died[:5]
    return result


def _send(rx: TrapReceiver, target: tuple, packets, result: FaultRun, deadline: float) -> None:
    """Send everything, keeping at most IN_FLIGHT_BYTES unread by the receiver."""
    sizes: list[int] = [0]  # prefix sums of the charged sizes
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        for data, mark in packets:
            # The load generator's flow control, not a wait for an outcome: a poll finer than
            # waiting.py's keeps the bench's million datagrams at the receiver's pace.
            while sizes[-1] - sizes[rx.stats.received] > IN_FLIGHT_BYTES:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the receiver stopped reading after {rx.stats.received} datagrams")
                time.sleep(0.0005)
            try:
                s.sendto(data, target)
            except OSError:  # e.g. EMSGSIZE for a datagram over 65,507 bytes: never sent, not counted
                continue
            sizes.append(sizes[-1] + len(data) + TRUESIZE)
            result.sent += 1
            if mark is not None:
                result.valid_sent += 1
