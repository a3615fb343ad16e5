"""Trap decode rate: ber.py against pysnmp/pyasn1, one core.

    .venv/bin/python bench/trap_decode.py [--seconds 2]

Prints traps/s for a typical v2c linkDown (5 varbinds), a v1 Eaton enterprise trap
(3 varbinds) and a v2c Siklu trapCurrentAlarm (12 varbinds), plus the cost of
notification_of. The receiver needs 10,000 v2c traps/s on 2 cores.
"""
from __future__ import annotations

import argparse
import time

from pyasn1.codec.ber import decoder as asn1_decoder
from pyasn1.codec.ber import encoder as asn1_encoder
from pysnmp.proto import api
from pysnmp.proto.api import v1, v2c, verdec

from opsconductor.engine.connectors.snmp.ber import decode_message
from opsconductor.engine.connectors.snmp.convert import notification_of


def _v2c(trap_oid: str, varbinds: list) -> bytes:
    pdu = v2c.TrapPDU()
    v2c.apiTrapPDU.set_defaults(pdu)
    v2c.apiTrapPDU.set_varbinds(pdu, [("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(4523311)),
                                      ("1.3.6.1.6.3.1.1.4.1.0", v2c.ObjectIdentifier(trap_oid))] + varbinds)
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, "public")
    v2c.apiMessage.set_pdu(msg, pdu)
    return asn1_encoder.encode(msg)


def _v1_eaton() -> bytes:
    pdu = v1.TrapPDU()
    v1.apiTrapPDU.set_defaults(pdu)
    v1.apiTrapPDU.set_enterprise(pdu, "1.3.6.1.4.1.534.1.11.4.1")
    v1.apiTrapPDU.set_agent_address(pdu, "10.1.1.2")
    v1.apiTrapPDU.set_generic_trap(pdu, 6)
    v1.apiTrapPDU.set_specific_trap(pdu, 3)
    v1.apiTrapPDU.set_timestamp(pdu, 123456789)
    v1.apiTrapPDU.set_varbinds(pdu, [
        ("1.3.6.1.4.1.534.1.7.2.1.1.17", v1.Integer(17)),
        ("1.3.6.1.4.1.534.1.7.2.1.2.17", v1.ObjectIdentifier("1.3.6.1.4.1.534.1.7.3")),
        ("1.3.6.1.4.1.534.1.11.3.0", v1.OctetString("UPS on battery"))])
    msg = v1.Message()
    v1.apiMessage.set_defaults(msg)
    v1.apiMessage.set_community(msg, "public")
    v1.apiMessage.set_pdu(msg, pdu)
    return asn1_encoder.encode(msg)


def packets() -> dict[str, bytes]:
    ifx = "1.3.6.1.2.1.2.2.1"
    siklu = "1.3.6.1.4.1.31926.11"
    return {
        "v2c linkDown": _v2c("1.3.6.1.6.3.1.1.5.3", [
            (f"{ifx}.1.10102", v2c.Integer(10102)), (f"{ifx}.7.10102", v2c.Integer(1)),
            (f"{ifx}.8.10102", v2c.Integer(2))]),
        "v1 Eaton onBattery": _v1_eaton(),
        "v2c Siklu currentAlarm": _v2c("1.3.6.1.4.1.31926.3.11", [
            (f"{siklu}.1.1.0", v2c.Integer(58231)), (f"{siklu}.1.2.0", v2c.Integer(2)),
            (f"{siklu}.2.1.2.5017", v2c.Integer(10)), (f"{siklu}.2.1.3.5017", v2c.OctetString("rssi-out-of-range")),
            (f"{siklu}.1.10.0", v2c.IpAddress("10.50.1.21")), (f"{siklu}.2.1.4.5017", v2c.OctetString("eth0")),
            (f"{siklu}.2.1.5.5017", v2c.Integer(2)), (f"{siklu}.2.1.6.5017", v2c.TimeTicks(8812300)),
            (f"{siklu}.2.1.10.5017", v2c.Integer(1)), (f"{siklu}.1.4.0", v2c.Integer(1))]),
    }


def rate(fn, arg, seconds: float) -> float:
    """Calls per second of fn(arg), over about `seconds` (best of 3 rounds)."""
    n = 1
    while True:  # size a round to ~seconds/3
        start = time.perf_counter()
        for _ in range(n):
            fn(arg)
        took = time.perf_counter() - start
        if took > 0.05:
            break
        n *= 4
    n = max(1, int(n * (seconds / 3) / took))
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn(arg)
        best = max(best, n / (time.perf_counter() - start))
    return best


def pysnmp_decode(data: bytes):
    version = int(verdec.decode_message_version(data))
    msg, _ = asn1_decoder.decode(data, asn1Spec=api.PROTOCOL_MODULES[version].Message())
    return msg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    print(f"{'packet':26} {'bytes':>5} {'ber.py/s':>10} {'pysnmp/s':>10} {'speed-up':>8} "
          f"{'ber+notification_of/s':>22}")
    for name, data in packets().items():
        ours = rate(decode_message, data, args.seconds)
        theirs = rate(pysnmp_decode, data, args.seconds)
        both = rate(lambda d: notification_of(decode_message(d)), data, args.seconds)
        print(f"{name:26} {len(data):5} {ours:10,.0f} {theirs:10,.0f} {ours / theirs:7.1f}x {both:22,.0f}")
    msg = decode_message(packets()["v1 Eaton onBattery"])
    v2msg = decode_message(packets()["v2c linkDown"])
    print(f"notification_of alone: v1 {1e6 / rate(notification_of, msg, args.seconds):.2f} us, "
          f"v2c {1e6 / rate(notification_of, v2msg, args.seconds):.2f} us per trap")


if __name__ == "__main__":
    main()
