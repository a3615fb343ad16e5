"""Fault suite, trap receiver: fuzzed datagrams with valid traps interleaved, on loopback.

    .venv/bin/python bench/faults_traps.py [--datagrams 1000000] [--seed 20260101] [--save-crashes]

Starts a real TrapReceiver (v1/v2c community and a v3 user) on 127.0.0.1 and sends
--datagrams datagrams over UDP: every 100th a valid trap carrying its number, the rest
hostile (mutants of real v1/v2c/v3 packets, huge INTEGERs in 32-bit fields, long OIDs,
deep string nesting, 8-octet lengths, unsigned values without their leading 00, wrong
communities, noise). The sender keeps a bounded amount unread, so the kernel never drops
and a missing valid trap is the receiver's loss. Bounded: fixed seed, fixed count, a
deadline. The generator and the driver are tests/connectors/snmp/trapfuzz.py, whose
short version (20,000 datagrams) runs in `make test` (test_trap_faults.py).

Prints: datagrams sent, valid traps sent / received / lost / duplicated, tracebacks
(log records with one, 'Traceback' on stderr, dead threads), warnings logged, the
receiver's counters by outcome, and datagrams per second. With --save-crashes, every
datagram the fast path raises on beyond BerError/ConvertError (checked offline on a
first pass) is written to tests/connectors/snmp/fixtures/ as hex. Goals: 0 lost,
0 duplicates, 0 tracebacks, 0 crashing.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "connectors" / "snmp" / "fixtures"
sys.path.insert(0, str(FIXTURES.parent))
sys.path.insert(0, str(ROOT / "tests"))  # trapfuzz waits with tests/waiting.py

import trapfuzz  # noqa: E402  (tests/connectors/snmp/trapfuzz.py: one generator for the test and the bench)


def find_crashes(total: int, seed: int, save: bool) -> int:
    """Offline pass: run the decoder over every hostile datagram; count (and save) the crashing ones."""
    found = 0
    for data, mark in trapfuzz.datagrams(total, seed):
        if mark is not None:
            continue
        why = trapfuzz.crashes(data)
        if why is None:
            continue
        found += 1
        if save:
            name = FIXTURES / f"fuzz-{hashlib.sha256(data).hexdigest()[:12]}.hex"
            name.write_text(f"# {why}\n# Found by bench/faults_traps.py (seed {seed}).\n" + data.hex() + "\n")
        if found <= 5:
            print(f"  crashing datagram ({len(data)} bytes): {why}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datagrams", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--save-crashes", action="store_true", help="write crashing datagrams as fixture files")
    parser.add_argument("--skip-offline", action="store_true", help="skip the offline crash pass")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    total = max(100, args.datagrams)

    crashing = 0
    if not args.skip_offline:
        started = time.perf_counter()
        crashing = find_crashes(total, args.seed, args.save_crashes)
        print(f"offline decode of {total:,} datagrams: {crashing} crashing "
              f"({time.perf_counter() - started:.0f} s)")

    run = trapfuzz.run(total, args.seed, find_crashes=False, deadline=3600.0)
    s = run.stats
    assert s is not None
    print(f"datagrams sent            {run.sent:>10,}   ({run.sent / max(run.seconds, 1e-9):,.0f}/s over {run.seconds:.1f} s)")
    print(f"valid traps sent          {run.valid_sent:>10,}")
    print(f"valid traps received      {run.valid_received:>10,}")
    print(f"valid traps lost          {len(run.lost_marks):>10,}" + (f"   first: {run.lost_marks[:10]}" if run.lost_marks else ""))
    print(f"duplicates                {run.duplicates:>10,}")
    print(f"unexpected marks          {run.unexpected:>10,}   (a mutant read as a valid trap: a harness bug)")
    print(f"tracebacks                {run.tracebacks:>10,}")
    print(f"warnings logged           {run.warnings:>10,}   (rate-limited: one per reason per 10 s)")
    print(f"crashing (offline)        {crashing:>10,}")
    print("receiver counters:")
    for name in ("received", "decoded", "informs_answered", "dropped_community", "dropped_v3_unknown_user",
                 "dropped_v3_auth", "v3_discovery", "dropped_unsupported", "malformed", "dropped_overflow",
                 "handed_off", "pending"):
        print(f"  {name:<24}{getattr(s, name):>10,}")
    accounted = (s.decoded + s.dropped_community + s.dropped_v3_unknown_user + s.dropped_v3_auth + s.v3_discovery
                 + s.dropped_unsupported + s.malformed + s.dropped_overflow)
    print(f"  every datagram counted once: {'yes' if accounted == s.received else f'NO ({accounted} != {s.received})'}")
    for sample in run.warning_samples[:5]:
        print(f"  e.g. {sample}")
    ok = not run.lost_marks and not run.duplicates and not run.unexpected and not run.tracebacks and not crashing
    print("goals met (0 lost, 0 duplicates, 0 tracebacks, 0 crashing)" if ok else "GOALS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
