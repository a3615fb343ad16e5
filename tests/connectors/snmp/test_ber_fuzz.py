"""ber.decode_message on hostile input: it decodes or raises BerError, never anything else, never hangs.

Fixed seeds and bounded counts keep the run reproducible and short. Whether the decoded
values match pysnmp is test_ber_differential.py's job.
"""
from __future__ import annotations

import random

from opsconductor.engine.connectors.snmp.ber import MAX_MESSAGE_SIZE, BerError, TrapMessage, decode_message
from opsconductor.engine.connectors.snmp.convert import ConvertError, notification_of

# Real packets (pysnmp's encoder and net-snmp's snmptrap), as seeds for the mutations.
SEEDS = [bytes.fromhex(h) for h in (
    # v2c linkDown: sysUpTime, snmpTrapOID, ifIndex, ifAdminStatus, ifOperStatus
    "307a02010104067075626c6963a76d020204d20201000201003061300f06082b0601020101030043"
    "0345052f3017060a2b06010603010104010006092b06010603010105033011060b2b060102010202"
    "0101ce76020227763010060b2b0601020102020107ce760201013010060b2b0601020102020108ce"
    "76020102",
    # v1 Eaton xupstdOnBattery (enterprise .534.1.11.4.1, specific 3)
    "307d02010004067075626c6963a470060b2b060104018416010b040140040a010102020106020103"
    "430301e24030503012060d2b060104018416010702010111020111301b060d2b0601040184160107"
    "02010211060a2b060104018416010703301d060b2b060104018416010b0300040e555053206f6e20"
    "62617474657279",
    # v2c inform coldStart
    "304502010104067075626c6963a638020400bc614e020100020100302a300f06082b060102010103"
    "00430345052f3017060a2b06010603010104010006092b0601060301010501",
)]


def _valid(data: bytes) -> bool:
    try:
        decode_message(data)
        return True
    except BerError:
        return False


def _run(packets) -> int:
    """Decode each packet; return how many decoded. (How fast: bench/trap_decode.py; tests assert
    outcomes, never timings.)"""
    ok = 0
    for data in packets:
        try:
            msg = decode_message(data)
        except BerError as exc:
            assert isinstance(exc.offset, int) and 0 <= exc.offset <= len(data), exc
            assert exc.reason
        else:
            assert isinstance(msg, TrapMessage)
            ok += 1
            try:
                notification_of(msg)
            except ConvertError:
                pass
    return ok


def test_seed_packets_are_valid():
    # the literals above are hand-pasted: keep them honest
    assert [_valid(s) for s in SEEDS] == [True, True, True]


def test_random_bytes():
    rng = random.Random(1)
    packets = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200))) for _ in range(5000)]
    packets += [b"\x30" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120))) for _ in range(5000)]
    assert _run(packets) < len(packets)


def test_random_structured_packets():
    """Random trees of TLVs with SNMP-ish tags, lengths in every form."""
    rng = random.Random(2)
    tags = [0x30, 0x02, 0x04, 0x06, 0x05, 0x40, 0x41, 0x42, 0x43, 0x44, 0x46, 0x80, 0x81, 0x82,
            0xA2, 0xA4, 0xA6, 0xA7, 0x24, 0x60, 0x00, 0x1F, 0xFF]

    def length(n):
        form = rng.randrange(4)
        if form == 0 and n < 128:
            return bytes([n])
        if form == 3:
            return None  # indefinite
        body = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
        return bytes([0x80 | (len(body) + (form == 2))]) + (b"\x00" if form == 2 else b"") + body

    def node(depth):
        tag = rng.choice(tags)
        if depth < 6 and (tag & 0x20 or rng.random() < 0.2):
            content = b"".join(node(depth + 1) for _ in range(rng.randrange(0, 5)))
        else:
            content = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 10)))
        ln = length(len(content))
        if ln is None:
            return bytes([tag, 0x80]) + content + b"\x00\x00"
        return bytes([tag]) + ln + content

    packets = []
    for _ in range(4000):
        body = bytes([0x02, 0x01, rng.choice((0, 1, 3))]) + node(1) + node(1)
        packets.append(bytes([0x30]) + (length(len(body)) or b"\x80") + body)
    assert _run(packets) < len(packets)


def test_mutated_real_packets():
    rng = random.Random(3)
    packets = []
    for _ in range(15000):
        b = bytearray(rng.choice(SEEDS))
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(b))
            op = rng.randrange(4)
            if op == 0:
                b[at] ^= 1 << rng.randrange(8)
            elif op == 1:
                b.insert(at, rng.randrange(256))
            elif op == 2 and len(b) > 1:
                del b[at]
            else:
                del b[at:]
                if not b:
                    break
        packets.append(bytes(b))
    ok = _run(packets)
    assert 0 < ok < len(packets)


def test_pathological_inputs_are_refused_or_decoded():
    nested = b"\x24\x80" * 30000
    packets = [
        b"\x30\x80" + nested,  # deep indefinite nesting: stopped by the depth limit
        b"\x30\x84\xff\xff\xff\xff" + b"\x02\x01\x01",  # length claims 4 GB
        b"\x30\x88" + b"\xff" * 8,
        b"\x30\x89" + b"\x00" * 9,
        b"\x30\x82\xff\xe3" + b"\x02\x01\x01\x04\x00\xa7\x82\xff\xd8" + b"\x02\x01\x00" * 3,
        b"\x30\x80\x02\x01\x01\x04\x80" + b"\x04\x00" * 30000 + b"\x00\x00",  # 30k empty fragments
        b"\x5f" + b"\xff" * 100,  # endless long-form tag
        b"\x30\x10\x02\x01\x01\x04\x00\xa7\x09\x02\x01\x00\x02\x01\x00\x02\x01\x00\x30\x06\x06"
        + b"\x81" * 40000,
        bytes(MAX_MESSAGE_SIZE + 1),
    ]
    vb = b"\x30\x06\x06\x01\x2b\x02\x01\x07"  # 8-byte varbinds: as many as fit in a datagram
    vbs = vb * ((MAX_MESSAGE_SIZE - 40) // len(vb))
    pdu = b"\x02\x01\x00\x02\x01\x00\x02\x01\x00\x30\x83" + len(vbs).to_bytes(3, "big") + vbs
    body = b"\x02\x01\x01\x04\x00\xa7\x83" + len(pdu).to_bytes(3, "big") + pdu
    packets.append(b"\x30\x83" + len(body).to_bytes(3, "big") + body)
    assert _run(packets) == 1  # only the big, valid one
