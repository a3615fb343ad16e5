"""net-snmp `pass_persist` handler serving vendor OIDs from a JSON file, for the poller tests.

snmpd starts it once and talks over stdin/stdout: "PING" → "PONG"; "get"/"getnext" and an OID →
the OID, its type and value (three lines), or "NONE". The data file ({"oids": {"1.3.6…": [type,
value]}}, type one of integer, gauge, counter, timeticks, ipaddress, objectid, string) is read
again whenever it changed, so a test changes the device by rewriting it. Only OIDs under
PREFIX (the subtree snmpd registered this handler for) are served.
Usage: agent.py DATA.json PREFIX
"""
import json
import os
import sys


def key(oid):
    return tuple(int(x) for x in oid.strip(".").split(".") if x)


class Data:
    def __init__(self, path, prefix):
        self.path, self.prefix, self.stamp, self.rows = path, key(prefix), None, []

    def load(self):
        try:
            stat = os.stat(self.path)
        except OSError:
            self.rows = []
            return
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp != self.stamp:
            with open(self.path, encoding="utf-8") as f:
                oids = json.load(f)["oids"]
            rows = ((key(o), t, v) for o, (t, v) in oids.items())
            self.rows = sorted(r for r in rows if r[0][:len(self.prefix)] == self.prefix)
            self.stamp = stamp

    def get(self, oid):
        k = key(oid)
        return next((r for r in self.rows if r[0] == k), None)

    def getnext(self, oid):
        k = key(oid)
        return next((r for r in self.rows if r[0] > k), None)


def main():
    data = Data(sys.argv[1], sys.argv[2])
    out = sys.stdout
    for _ in range(10_000_000):  # bounded; snmpd closes stdin when it exits
        line = sys.stdin.readline()
        if not line:
            return
        command = line.strip().lower()
        if command == "ping":
            out.write("PONG\n")
        elif command in ("get", "getnext"):
            oid = sys.stdin.readline().strip()
            data.load()
            row = data.get(oid) if command == "get" else data.getnext(oid)
            if row is None:
                out.write("NONE\n")
            else:
                out.write(".%s\n%s\n%s\n" % (".".join(map(str, row[0])), row[1], row[2]))
        elif command == "set":
            sys.stdin.readline()
            out.write("not-writable\n")
        else:
            out.write("NONE\n")
        out.flush()


if __name__ == "__main__":
    main()
