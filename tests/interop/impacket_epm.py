"""impacket's endpoint-mapper helpers against an endpoint mapper on 127.0.0.1.

usage: impacket_epm.py PORT --expect UUID=VERSION=PORT [--expect ...]

Checks (each prints `ok ...` or `FAIL ...`):
- hept_lookup (ept_lookup paged with the entry handle until it comes back null) lists each expected
  interface at its port, with an ncacn_ip_tcp binding string impacket can print;
- hept_map of each expected interface over ncacn_ip_tcp gives one of its `ncacn_ip_tcp:127.0.0.1[PORT]`;
- hept_map of an interface nobody registered raises impacket's ept_s_not_registered error.
Run under target/peers/venv/bin/python (impacket 0.13).
"""
import argparse
import sys

from impacket.dcerpc.v5 import epm, transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.uuid import uuidtup_to_bin

failures = 0


def check(cond, what):
    global failures
    if cond:
        print(f"ok {what}")
    else:
        failures += 1
        print(f"FAIL {what}")
    sys.stdout.flush()


def connect(port):
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port}]")
    dce = t.get_dce_rpc()
    dce.connect()
    return dce


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--expect", action="append", default=[])
    a = ap.parse_args()
    expected = []
    for e in a.expect:
        u, v, p = e.split("=")
        expected.append((u.lower(), v, int(p)))

    dce = connect(a.port)
    entries = epm.hept_lookup(None, dce=dce)
    dce.disconnect()
    check(len(entries) > 0, f"hept_lookup listed {len(entries)} entries")
    seen = set()
    for e in entries:
        tower = e["tower"]
        binding = epm.PrintStringBinding(tower["Floors"])
        print(f"  {binding} annotation={e['annotation']!r}")
        seen.add(binding)
    for u, v, p in expected:
        want = f"ncacn_ip_tcp:127.0.0.1[{p}]"
        check(want in seen, f"hept_lookup lists {want}")

    ports = {}
    for u, v, p in expected:
        ports.setdefault((u, v), set()).add(f"ncacn_ip_tcp:127.0.0.1[{p}]")
    for (u, v), want in ports.items():
        dce = connect(a.port)
        try:
            got = epm.hept_map("127.0.0.1", uuidtup_to_bin((u, v)), protocol="ncacn_ip_tcp", dce=dce)
            check(got in want, f"hept_map {u} v{v}: {got} (one of {sorted(want)})")
        except Exception as ex:  # noqa: BLE001 - report any failure as a check
            check(False, f"hept_map {u} v{v}: {ex}")
        dce.disconnect()

    dce = connect(a.port)
    try:
        got = epm.hept_map(None, uuidtup_to_bin(("01234567-89ab-cdef-0123-456789abcdef", "1.0")),
                           protocol="ncacn_ip_tcp", dce=dce)
        check(False, f"hept_map of an unknown interface fails (got {got})")
    except DCERPCException as ex:
        check("ept_s_not_registered" in str(ex), f"hept_map of an unknown interface: {ex}")
    dce.disconnect()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
