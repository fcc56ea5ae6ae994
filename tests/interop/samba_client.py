"""python3-samba's DCE/RPC client (a client no one here wrote) calls a server over ncacn_ip_tcp on loopback.

usage: /usr/bin/python3 samba_client.py PORT [--peer msrpc|samba]

Each check prints `ok NAME` or `FAIL NAME: why`; the exit status is the number of failures.
Anonymous credentials, no authentication. Samba's client binds with two presentation contexts (NDR20 and
bind-time feature negotiation), which the server must handle.

Raw calls (base.ClientConnection.request) compare exact reply stubs; typed calls use samba.dcerpc.mgmt.

--peer msrpc (default): the server is `msrpc serve` (mgmt and the AsyncRPC sample).
--peer samba: the server is samba-dcerpcd on 127.0.0.1:135. This mode proves the checks against a real
    implementation. Differences, each documented where it is checked:
    - inq_if_ids lists epm v3.0 as the other interface instead of AsyncRPC v1.0;
    - raw inq_stats in the MS-RPCE form ([in,out] count, 4 bytes in) is only sent to msrpc: Samba's mgmt
      IDL declares two [in] uint32 (max_count, unknown) and faults nca_s_fault_ndr on 4 bytes;
    - inq_princ_name: Samba does not implement it (fault nca_s_op_rng_error), msrpc returns a name;
    - the AsyncRPC calls (NonAsyncFunc, a 20000-byte NonAsyncFunc Samba's client fragments, AsyncFunc,
      Shutdown denied with fault 5) are only made against msrpc.
"""
import argparse
import struct
import sys
import uuid

import samba
from samba import credentials, param
from samba.dcerpc import base, mgmt

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--peer", choices=["msrpc", "samba"], default="msrpc")
ARGS = ap.parse_args()
SAMBA = ARGS.peer == "samba"
BINDING = f"ncacn_ip_tcp:127.0.0.1[{ARGS.port}]"

MGMT_ID = ("afa8bd80-7d8a-11c9-bef4-08002b102989", 1)
ASYNCRPC_ID = ("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b", 1)
EPM_ID = ("e1af8308-5d1f-11c9-91a4-08002b14a0fa", 3)
SECOND_ID = EPM_ID if SAMBA else ASYNCRPC_ID

# How Samba's client reports fault PDUs: it maps the fault status to an NTSTATUS
NT_STATUS_RPC_PROCNUM_OUT_OF_RANGE = 0xC002002E  # from nca_s_op_rng_error (0x1c010002)
NT_STATUS_ACCESS_DENIED = 0xC0000022  # from fault status 5
WERR_ACCESS_DENIED = 5
TIMEOUT = 10  # seconds, per request

LP = param.LoadParm()
CREDS = credentials.Credentials()
CREDS.set_anonymous()

failures = 0
passes = 0


def check(name, fn):
    global failures, passes
    try:
        fn()
        passes += 1
        print(f"ok {name}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)


def raw(syntax=MGMT_ID):
    c = base.ClientConnection(BINDING, syntax, LP, CREDS)
    c.request_timeout = TIMEOUT
    return c


def typed():
    m = mgmt.mgmt(BINDING, LP, CREDS)
    m.request_timeout = TIMEOUT
    return m


def expect_ntstatus(fn, status):
    try:
        r = fn()
    except samba.NTSTATUSError as e:
        got = e.args[0] & 0xFFFFFFFF
        assert got == status, f"NTSTATUS {got:#010x} ({e.args[1]}), expected {status:#010x}"
        return
    raise AssertionError(f"no fault; reply {r!r}")


def parse_if_ids(stub):
    """inq_if_ids reply: [out] rpc_if_id_vector_p_t *if_id_vector, [out] error_status_t *status.

    A unique pointer to the conformant structure {count; [size_is(count)] rpc_if_id_t *if_id[]}: referent,
    max_count, count, count non-null referents, then count (uuid, vers_major, vers_minor), then status.
    """
    ref, max_count, count = struct.unpack_from("<III", stub, 0)
    assert ref != 0, "null if_id_vector"
    assert max_count == count, f"max_count {max_count} != count {count}"
    off = 12
    refs = struct.unpack_from(f"<{count}I", stub, off)
    assert all(refs), f"null if_id pointer among {refs}"
    off += 4 * count
    ids = []
    for _ in range(count):
        u = uuid.UUID(bytes_le=stub[off:off + 16])
        major, minor = struct.unpack_from("<HH", stub, off + 16)
        ids.append((str(u), major, minor))
        off += 20
    (status,) = struct.unpack_from("<I", stub, off)
    assert status == 0, f"status {status:#x}"
    assert off + 4 == len(stub), f"{len(stub) - off - 4} trailing bytes"
    return ids


def ndr_string(text):
    """[in, string] unsigned char *: a [ref] pointer, so just max_count, offset 0, actual_count, bytes."""
    data = text.encode() + b"\0"
    return struct.pack("<III", len(data), 0, len(data)) + data  # no trailing padding after the last item


# --- raw mgmt -----------------------------------------------------------------------------------------


def raw_is_server_listening():
    r = raw().request(2, b"")
    # [out] error_status_t *status = 0, then the boolean32 result = 1 (true)
    assert r == bytes.fromhex("00000000 01000000"), f"stub {r.hex()}"


def raw_stop_server_listening():
    c = raw()
    r = c.request(3, b"")
    assert r == struct.pack("<I", 5), f"stub {r.hex()}, expected status 5 (access denied)"
    r = c.request(2, b"")
    assert r == bytes.fromhex("00000000 01000000"), f"still listening? stub {r.hex()}"


def raw_inq_if_ids():
    ids = parse_if_ids(raw().request(0, b""))
    have = {(u, major) for u, major, _ in ids}
    assert MGMT_ID in have, f"mgmt v1 missing: {ids}"
    assert SECOND_ID in have, f"{SECOND_ID} missing: {ids}"


def raw_inq_stats():
    # MS-RPCE 2.2.1.3.3: [in,out] count, [out, size_is(*count)] statistics[], [out] status
    r = raw().request(1, struct.pack("<I", 4))
    count, max_count = struct.unpack_from("<II", r, 0)
    assert count == 4 and max_count == 4, f"count {count}, max_count {max_count}: {r.hex()}"
    assert len(r) == 8 + 4 * count + 4, f"stub {r.hex()}"
    stats = struct.unpack_from("<4I", r, 8)
    (status,) = struct.unpack_from("<I", r, 24)
    assert status == 0, f"status {status:#x}"
    assert stats[0] >= 1 and stats[2] >= 1, f"calls in / pkts in should count this call: {stats}"
    print(f"  (inq_stats: calls in {stats[0]}, out {stats[1]}, pkts in {stats[2]}, out {stats[3]})")


def raw_unknown_opnum():
    c = raw()
    expect_ntstatus(lambda: c.request(5, b""), NT_STATUS_RPC_PROCNUM_OUT_OF_RANGE)
    r = c.request(2, b"")  # the association survives the fault
    assert r == bytes.fromhex("00000000 01000000"), f"stub {r.hex()}"


# --- typed mgmt ---------------------------------------------------------------------------------------


def typed_is_server_listening():
    r = typed().is_server_listening()
    assert tuple(r) == (0, 1), f"(status, result) = {r}"


def typed_inq_if_ids():
    v = typed().inq_if_ids()
    have = {(str(x.id.uuid), x.id.if_version) for x in v.if_id}
    assert v.count == len(have), f"count {v.count}, ids {have}"
    # Samba's ndr_syntax_id has a uint32 if_version: major in the low 16 bits, minor in the high
    assert (MGMT_ID[0], 1) in have, f"mgmt v1.0 missing: {have}"
    assert (SECOND_ID[0], SECOND_ID[1]) in have, f"{SECOND_ID} missing: {have}"


def typed_inq_stats():
    # Samba's client sends its IDL's two [in] uint32 (max_count=4, unknown=0): 4 bytes more than MS-RPCE's
    # single count. A server that ignores trailing stub bytes answers (samba-dcerpcd does: it answers
    # inq_stats and is_server_listening with 4 extra bytes appended).
    s = typed().inq_stats(4, 0)
    assert s.count == 4 and len(list(s.statistics)) == 4, f"count {s.count}, {list(s.statistics)}"


def typed_inq_princ_name():
    m = typed()
    if SAMBA:
        # samba-dcerpcd does not implement inq_princ_name
        expect_ntstatus(lambda: m.inq_princ_name(10, 256), NT_STATUS_RPC_PROCNUM_OUT_OF_RANGE)
        return
    name = m.inq_princ_name(10, 256)
    assert isinstance(name, str), f"princ_name {name!r}"
    print(f"  (inq_princ_name: {name!r})")


def typed_stop_server_listening():
    m = typed()
    try:
        m.stop_server_listening()
    except samba.WERRORError as e:
        assert e.args[0] == WERR_ACCESS_DENIED, f"WERROR {e.args}"
    else:
        raise AssertionError("stop_server_listening succeeded")
    assert tuple(m.is_server_listening()) == (0, 1), "server stopped listening"


# --- AsyncRPC (msrpc only) ----------------------------------------------------------------------------


def async_calls():
    c = raw(ASYNCRPC_ID)
    r = c.request(0, ndr_string("hello from python3-samba"))
    assert r == b"", f"NonAsyncFunc reply stub {r.hex()}, expected empty (void)"
    r = c.request(1, struct.pack("<I", 10))
    assert r == b"", f"AsyncFunc reply stub {r.hex()}, expected empty (void)"


def async_big_request():
    # 20 KB of stub: Samba's client cuts it into fragments of the negotiated max_xmit_frag
    c = raw(ASYNCRPC_ID)
    r = c.request(0, ndr_string("y" * 20000))
    assert r == b"", f"reply stub {r.hex()}"


def async_shutdown_denied():
    c = raw(ASYNCRPC_ID)
    expect_ntstatus(lambda: c.request(2, b""), NT_STATUS_ACCESS_DENIED)
    r = c.request(1, struct.pack("<I", 1))
    assert r == b"", "AsyncFunc after the denied Shutdown"


check("raw mgmt is_server_listening reply stub is 00000000 01000000", raw_is_server_listening)
check("raw mgmt stop_server_listening reply stub is 05000000 (denied)", raw_stop_server_listening)
check("raw mgmt inq_if_ids NDR layout and contents", raw_inq_if_ids)
if not SAMBA:
    check("raw mgmt inq_stats (MS-RPCE form)", raw_inq_stats)
check("raw mgmt unknown opnum faults (NT_STATUS_RPC_PROCNUM_OUT_OF_RANGE)", raw_unknown_opnum)
check("typed mgmt is_server_listening() == (0, 1)", typed_is_server_listening)
check("typed mgmt inq_if_ids()", typed_inq_if_ids)
check("typed mgmt inq_stats(4, 0) (Samba's IDL sends 8 bytes, MS-RPCE's form is 4)", typed_inq_stats)
check("typed mgmt inq_princ_name(10, 256)", typed_inq_princ_name)
check("typed mgmt stop_server_listening() raises WERR_ACCESS_DENIED", typed_stop_server_listening)
if not SAMBA:
    check("raw AsyncRPC NonAsyncFunc and AsyncFunc", async_calls)
    check("raw AsyncRPC NonAsyncFunc with a 20000-byte string (fragmented request)", async_big_request)
    check("raw AsyncRPC Shutdown faults with access denied", async_shutdown_denied)
print(f"python3-samba client ({ARGS.peer}): {passes} passed, {failures} failed")
sys.exit(min(failures, 100))
