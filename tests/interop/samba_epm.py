"""python3-samba's typed epmapper client against an endpoint mapper on 127.0.0.1.

usage: samba_epm.py PORT --expect UUID=ANNOTATION [--expect ...] [--peer NAME]

Checks (each prints `ok ...` or `FAIL ...`):
- epm_Lookup (all elements, any version) paged two entries at a time with the entry handle until the
  handle comes back null (status 0, or 0x16c9a0d6 after a full page or from Samba);
  every expected interface is listed with its annotation;
- epm_Lookup by interface (exact version) finds exactly the asked interface;
- epm_LookupHandleFree on a handle in the middle of a walk answers 0 and a null handle;
- epm_Map with each listed ncacn_ip_tcp tower gives back a tower of the same interface and port;
- epm_Map of an interface nobody registered answers 0x16c9a0d6 and no towers.
Run under /usr/bin/python3 (python3-samba).
"""
import argparse
import sys
import uuid

from samba import ndr
from samba.credentials import Credentials
from samba.dcerpc import epmapper, misc
from samba.param import LoadParm

NOT_REGISTERED = 0x16C9A0D6
NIL = "00000000-0000-0000-0000-000000000000"
failures = 0


def check(cond, what):
    global failures
    if cond:
        print(f"ok {what}")
    else:
        failures += 1
        print(f"FAIL {what}")
    sys.stdout.flush()


def floors(twr):
    return twr.tower.floors


def iface_of(twr):
    """(uuid, major, minor) of floor 1: lhs_data is the UUID (little-endian) and the major version,
    the right-hand side (`unknown`) the minor version, both little-endian."""
    f = floors(twr)[0]
    data = bytes(f.lhs.lhs_data)
    minor = bytes(f.rhs.unknown)
    u = str(uuid.UUID(bytes_le=data[:16]))
    return u, int.from_bytes(data[16:18], "little"), int.from_bytes(minor[:2], "little")


def tcp_port(twr):
    for f in floors(twr):
        if f.lhs.protocol == epmapper.EPM_PROTOCOL_TCP:
            return f.rhs.port
    return None


def with_uuid(twr, u):
    """A copy of the tower with another interface UUID in floor 1."""
    tw = ndr.ndr_unpack(epmapper.epm_twr_t, ndr.ndr_pack(twr))
    f = tw.tower.floors[0]
    f.lhs.lhs_data = uuid.UUID(u).bytes_le + bytes(f.lhs.lhs_data)[16:]
    return tw


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--peer", default="peer")
    a = ap.parse_args()
    lp = LoadParm()
    lp.load_default()
    creds = Credentials()
    creds.guess(lp)
    creds.set_anonymous()
    binding = f"ncacn_ip_tcp:127.0.0.1[{a.port}]"
    c = epmapper.epmapper(binding, lp, creds)

    entries, pages, handle, status = [], 0, misc.policy_handle(), 0
    # Windows and msrpc end the walk with a page that is not full and a null handle (status 0), or
    # with 0x16c9a0d6 after a full page; Samba with a page carrying 0x16c9a0d6.
    for _ in range(1000):
        handle, got, status = c.epm_Lookup(0, None, None, 1, handle, 2)
        pages += 1
        entries.extend(got)
        if status != 0 or str(handle.uuid) == NIL:
            break
    check(status in (0, NOT_REGISTERED), f"epm_Lookup walk ends with status 0 or 0x16c9a0d6 (got {status:#x})")
    check(str(handle.uuid) == NIL, "the last epm_Lookup returns a null handle")
    check(len(entries) > 0, f"epm_Lookup listed {len(entries)} entries in {pages} calls")
    listed = {}
    for e in entries:
        u, major, minor = iface_of(e.tower)
        ann = e.annotation if isinstance(e.annotation, str) else bytes(e.annotation).decode()
        listed.setdefault(u, []).append((major, minor, ann, tcp_port(e.tower), e))
        print(f"  {u} v{major}.{minor} port={tcp_port(e.tower)} annotation={ann!r}")
    for exp in a.expect:
        u, _, ann = exp.partition("=")
        got = listed.get(u.lower(), [])
        check(any(x[2] == ann for x in got), f"{u} listed with annotation {ann!r} ({[x[2] for x in got]})")

    # by interface, exact version
    if listed:
        u, rows = next(iter(listed.items()))
        major, minor = rows[0][0], rows[0][1]
        ifid = epmapper.rpc_if_id_t()
        ifid.uuid = misc.GUID(u)
        ifid.vers_major, ifid.vers_minor = major, minor
        h, got, st = c.epm_Lookup(1, None, ifid, 3, misc.policy_handle(), 50)
        # Samba marks its last page with 0x16c9a0d6 even when it carries entries
        last_ok = st == 0 or (a.peer == "samba" and st == NOT_REGISTERED)
        check(last_ok and len(got) == len(rows) and all(iface_of(g.tower)[0] == u for g in got),
              f"epm_Lookup by interface {u} v{major}.{minor} exact: {len(got)} of {len(rows)}")
        if str(h.uuid) != NIL:
            c.epm_LookupHandleFree(h)

    # a handle freed mid-walk
    h, got, st = c.epm_Lookup(0, None, None, 1, misc.policy_handle(), 1)
    if len(entries) > 1:
        check(st == 0 and str(h.uuid) != NIL, "a one-entry page keeps the handle open")
        h2, st2 = c.epm_LookupHandleFree(h)
        # Samba answers 0 but leaves the handle as it was
        null_ok = str(h2.uuid) == NIL or a.peer == "samba"
        check(st2 == 0 and null_ok, f"epm_LookupHandleFree answers 0 and a null handle ({st2:#x}, {h2.uuid})")

    # map each TCP tower back
    mapped = 0
    for u, rows in listed.items():
        for major, minor, ann, port, e in rows:
            if port is None:
                continue
            h, towers, st = c.epm_Map(None, e.tower, misc.policy_handle(), 4)
            towers = [getattr(t, "twr", t) for t in towers]
            ports = [tcp_port(t) for t in towers if t is not None]
            ok_ = st == 0 and port in ports and all(iface_of(t)[0] == u for t in towers if t is not None)
            check(ok_, f"epm_Map {u} v{major}.{minor} gives port {port} (status {st:#x}, ports {ports})")
            if str(h.uuid) != NIL:
                c.epm_LookupHandleFree(h)
            mapped += 1
            break
    check(mapped > 0, f"epm_Map tried on {mapped} interfaces")

    # an unregistered interface
    if entries:
        tw = with_uuid(entries[0].tower, "01234567-89ab-cdef-0123-456789abcdef")
        h, towers, st = c.epm_Map(None, tw, misc.policy_handle(), 4)
        n = len([t for t in towers if getattr(t, "twr", t) is not None])
        check(st == NOT_REGISTERED and n == 0, f"epm_Map of an unknown interface: 0x16c9a0d6, no towers ({st:#x}, {n})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
