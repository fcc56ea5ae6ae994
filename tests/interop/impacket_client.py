"""impacket (a client no one here wrote) calls a DCE/RPC server over ncacn_ip_tcp on loopback.

usage: impacket_client.py PORT [--peer msrpc|samba]

Each check prints `ok NAME` or `FAIL NAME: why`; the exit status is the number of failures.

--peer msrpc (default): the server is `msrpc serve`, which serves mgmt and the AsyncRPC sample
    (7f6c4340-eb67-11d1-b9d7-00c04fad9a3b v1.0: 0 NonAsyncFunc, 1 AsyncFunc, 2 Shutdown).
--peer samba: the server is samba-dcerpcd on 127.0.0.1:135, which serves mgmt and the endpoint mapper.
    This mode proves the checks themselves against a real implementation. The differences, all about the
    second interface Samba does not have:
    - the second interface is epm (ept_map for srvsvc) instead of AsyncRPC (NonAsyncFunc, AsyncFunc);
    - the fragmented request is an ept_map (about 130 bytes) instead of a 3000-byte NonAsyncFunc;
    - AsyncRPC's Shutdown (denied with fault 5) is only checked against msrpc.

Replies are read as raw PDUs where the check is about the PDU itself (fault status and flags, call_id
matching of two outstanding calls): impacket turns faults into exceptions without the status code and
does not match replies to call_ids.
"""
import argparse
import struct
import sys

from impacket.dcerpc.v5 import epm, mgmt, transport
from impacket.dcerpc.v5.dtypes import NULL, STR, ULONG
from impacket.dcerpc.v5.ndr import NDRCALL
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.uuid import uuidtup_to_bin

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--peer", choices=["msrpc", "samba"], default="msrpc")
ARGS = ap.parse_args()
PORT = ARGS.port
SAMBA = ARGS.peer == "samba"

ASYNCRPC = uuidtup_to_bin(("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b", "1.0"))
UNKNOWN_IF = uuidtup_to_bin(("11111111-2222-3333-4444-555555555555", "1.0"))
MGMT = mgmt.MSRPC_UUID_MGMT
EPM = epm.MSRPC_UUID_PORTMAP
SECOND = EPM if SAMBA else ASYNCRPC
SRVSVC = uuidtup_to_bin(("4b324fc8-1670-01d3-1278-5a47bf6ee188", "3.0"))
NDR20 = uuidtup_to_bin(("8a885d04-1ceb-11c9-9fe8-08002b104860", "2.0"))

# PDU types and flags (C706 12.6.3.1, 12.6.4)
PTYPE_RESPONSE, PTYPE_FAULT = 2, 3
PFC_FIRST_FRAG, PFC_LAST_FRAG, PFC_DID_NOT_EXECUTE = 0x01, 0x02, 0x20
NCA_S_OP_RNG_ERROR = 0x1C010002
ACCESS_DENIED = 5
TIMEOUT = 10  # seconds, per socket operation


class NonAsyncFunc(NDRCALL):
    # [in, string] unsigned char *pszMessage: a top-level pointer parameter is [ref], so the string is
    # marshalled in place with no referent id (impacket's LPSTR would add one)
    opnum = 0
    structure = (("pszMessage", STR),)


class NonAsyncFuncResponse(NDRCALL):
    structure = ()


class AsyncFunc(NDRCALL):
    opnum = 1
    structure = (("nAsychDelay", ULONG),)


class AsyncFuncResponse(NDRCALL):
    structure = ()


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


def connect(max_frag=None):
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{PORT}]")
    t.set_connect_timeout(TIMEOUT)  # also the socket's timeout for every later read
    dce = t.get_dce_rpc()
    if max_frag:
        dce.set_max_fragment_size(max_frag)
    dce.connect()
    return dce


def next_call_id(dce):
    # impacket keeps the next call_id in a name-mangled attribute of DCERPC_v5
    return dce._DCERPC_v5__callid  # noqa: SLF001


def read_pdu(dce):
    """One whole PDU from the connection: (ptype, flags, call_id, body after the 16-byte header)."""
    tr = dce.get_rpc_transport()
    head = tr.recv(count=16)
    assert head[0] == 5 and head[1] == 0, f"not a v5.0 PDU: {head.hex()}"
    assert head[4] & 0xF0 == 0x10, f"expected little-endian drep, got {head[4:8].hex()}"
    frag_len = struct.unpack_from("<H", head, 8)[0]
    body = tr.recv(count=frag_len - 16) if frag_len > 16 else b""
    return head[2], head[3], struct.unpack_from("<I", head, 12)[0], body


def read_reply(dce):
    """A whole reply, reassembled: (ptype, flags of the first fragment, call_id, stub or fault status)."""
    ptype, flags, call_id, body = read_pdu(dce)
    if ptype == PTYPE_FAULT:
        # alloc_hint(4) p_cont_id(2) cancel_count(1) fault_flags(1) status(4)
        return ptype, flags, call_id, struct.unpack_from("<I", body, 8)[0]
    assert ptype == PTYPE_RESPONSE, f"expected a response or fault, got PDU type {ptype}"
    assert flags & PFC_FIRST_FRAG, f"first reply fragment lacks PFC_FIRST_FRAG (flags {flags:#x})"
    stub = body[8:]
    first_flags = flags
    for _ in range(10000):
        if flags & PFC_LAST_FRAG:
            return ptype, first_flags, call_id, stub
        ptype, flags, cid, body = read_pdu(dce)
        assert ptype == PTYPE_RESPONSE and cid == call_id, f"fragment of another call ({ptype}, {cid})"
        stub += body[8:]
    raise AssertionError("more than 10000 response fragments")


def raw_call(dce, opnum, stub):
    call_id = next_call_id(dce)
    dce.call(opnum, stub)
    ptype, flags, cid, result = read_reply(dce)
    assert cid == call_id, f"reply has call_id {cid}, the request had {call_id}"
    return ptype, flags, result


def expect_fault(dce, opnum, stub, status, did_not_execute=False):
    ptype, flags, result = raw_call(dce, opnum, stub)
    assert ptype == PTYPE_FAULT, f"opnum {opnum}: expected a fault, got a response {bytes(result).hex()}"
    assert result == status, f"opnum {opnum}: fault status {result:#010x}, expected {status:#010x}"
    if did_not_execute:
        assert flags & PFC_DID_NOT_EXECUTE, f"fault flags {flags:#04x} lack PFC_DID_NOT_EXECUTE"


def if_ids(dce):
    r = mgmt.hinq_if_ids(dce)
    assert r["status"] == 0, f"inq_if_ids status {r['status']:#x}"
    vec = r["if_id_vector"]
    out = set()
    for i in range(vec["count"]):
        out.add(bytes(vec["if_id"][i]["Data"].getData())[:20])
    return out


def ept_map_srvsvc():
    """ept_map for srvsvc over ncacn_ip_tcp: about 130 bytes of stub (a 75-byte tower)."""
    iface = epm.EPMRPCInterface()
    iface["InterfaceUUID"] = SRVSVC[:16]
    iface["MajorVersion"], iface["MinorVersion"] = struct.unpack("<HH", SRVSVC[16:20])
    ndr = epm.EPMRPCDataRepresentation()
    ndr["DataRepUuid"] = NDR20[:16]
    ndr["MajorVersion"], ndr["MinorVersion"] = struct.unpack("<HH", NDR20[16:20])
    rpc = epm.EPMProtocolIdentifier()
    rpc["ProtIdentifier"] = epm.FLOOR_RPCV5_IDENTIFIER
    port = epm.EPMPortAddr()
    port["IpPort"] = 0
    host = epm.EPMHostAddr()
    host["Ip4addr"] = bytes(4)
    tower = epm.EPMTower()
    tower["NumberOfFloors"] = 5
    tower["Floors"] = iface.getData() + ndr.getData() + rpc.getData() + port.getData() + host.getData()
    req = epm.ept_map()
    req["max_towers"] = 4
    req["map_tower"]["tower_length"] = len(tower)
    req["map_tower"]["tower_octet_string"] = tower.getData()
    # small referent ids, as Windows clients send; with impacket's random ones tshark 4.0's epm dissector
    # loses the response's tower pointer and flags the reply "Long frame"
    req.fields["obj"].fields["ReferentID"] = 1
    req.fields["map_tower"].fields["ReferentID"] = 2
    return req


def second_call(dce):
    """A successful call on the second interface."""
    if SAMBA:
        r = dce.request(ept_map_srvsvc())
        assert r["num_towers"] > 0, "ept_map found no tower for srvsvc"
    else:
        req = NonAsyncFunc()
        req["pszMessage"] = "hello from impacket\x00"
        dce.request(req, checkError=False)


# --- checks -------------------------------------------------------------------------------------------


def mgmt_calls():
    dce = connect()
    dce.bind(MGMT)
    r = mgmt.his_server_listening(dce)
    assert r["status"] == 0, f"status {r['status']:#x}"
    ids = if_ids(dce)
    assert MGMT in ids, f"mgmt v1.0 missing from inq_if_ids: {[i.hex() for i in ids]}"
    assert SECOND in ids, f"{'epm v3.0' if SAMBA else 'AsyncRPC v1.0'} missing from inq_if_ids"
    dce.disconnect()


def is_server_listening_bytes():
    dce = connect()
    dce.bind(MGMT)
    ptype, _, stub = raw_call(dce, 2, b"")
    assert ptype == PTYPE_RESPONSE, f"fault {stub:#x}"
    # [out] error_status_t *status = 0, then the boolean32 result = 1
    assert stub == bytes.fromhex("00000000 01000000"), f"stub {stub.hex()}"
    dce.disconnect()


def stop_server_listening_denied():
    dce = connect()
    dce.bind(MGMT)
    ptype, _, stub = raw_call(dce, 3, b"")
    assert ptype == PTYPE_RESPONSE, f"fault {stub:#x}"
    assert stub == struct.pack("<I", ACCESS_DENIED), f"stub {stub.hex()}, expected status 5"
    r = mgmt.his_server_listening(dce)
    assert r["status"] == 0, "server stopped listening after a denied stop_server_listening"
    dce.disconnect()


def sample_calls():
    dce = connect()
    dce.bind(SECOND)
    if SAMBA:
        second_call(dce)
        second_call(dce)
    else:
        req = NonAsyncFunc()
        req["pszMessage"] = "hello from impacket\x00"
        dce.request(req, checkError=False)
        req = AsyncFunc()
        req["nAsychDelay"] = 10
        dce.request(req, checkError=False)
    dce.disconnect()


def shutdown_denied():
    dce = connect()
    dce.bind(ASYNCRPC)
    expect_fault(dce, 2, b"", ACCESS_DENIED)
    second_call(dce)  # still serving
    dce.disconnect()


def fragmented_request():
    # impacket cuts the stub into 16-byte pieces, one request PDU each
    dce = connect(max_frag=16)
    dce.bind(SECOND)
    if SAMBA:
        second_call(dce)  # ept_map: about 130 bytes of stub, 9 fragments
    else:
        req = NonAsyncFunc()
        req["pszMessage"] = "x" * 3000 + "\x00"  # about 190 fragments
        dce.request(req, checkError=False)
        req = AsyncFunc()
        req["nAsychDelay"] = 1
        dce.request(req, checkError=False)
    dce.disconnect()


def alter_context():
    dce = connect()
    dce.bind(MGMT)
    dce2 = dce.alter_ctx(SECOND)  # same connection, presentation context 1
    second_call(dce2)
    # impacket keeps one call_id counter per context object; keep them unique on the connection
    dce._DCERPC_v5__callid = next_call_id(dce2)  # noqa: SLF001
    r = mgmt.his_server_listening(dce)
    assert r["status"] == 0
    dce.disconnect()


def alter_context_unknown():
    dce = connect()
    dce.bind(MGMT)
    try:
        dce.alter_ctx(UNKNOWN_IF)
    except DCERPCException as e:
        msg = str(e)
        assert "provider_rejection" in msg and "abstract_syntax_not_supported" in msg, msg
    else:
        raise AssertionError("alter_context to an unknown interface was accepted")
    r = mgmt.his_server_listening(dce)  # the rejection must not have broken the association
    assert r["status"] == 0
    dce.disconnect()


def two_outstanding():
    # Two requests on the wire before either reply is read. The server may answer in either order; each
    # reply must carry its request's call_id.
    dce = connect()
    dce.bind(SECOND)
    sent = {}
    if SAMBA:
        body = ept_map_srvsvc()
        for _ in range(2):
            sent[next_call_id(dce)] = "ept_map"
            dce.call(body.opnum, body)
    else:
        slow = AsyncFunc()
        slow["nAsychDelay"] = 300
        fast = NonAsyncFunc()
        fast["pszMessage"] = "second\x00"
        sent[next_call_id(dce)] = "AsyncFunc(300 ms)"
        dce.call(slow.opnum, slow)
        sent[next_call_id(dce)] = "NonAsyncFunc"
        dce.call(fast.opnum, fast)
    got = []
    for _ in range(2):
        ptype, _, cid, result = read_reply(dce)
        assert ptype == PTYPE_RESPONSE, f"call {cid}: fault {result:#x}"
        got.append(cid)
    assert sorted(got) == sorted(sent), f"replies for call_ids {got}, requests were {sorted(sent)}"
    print(f"  (reply order: {', '.join(f'{sent[c]} [{c}]' for c in got)})", flush=True)
    dce.disconnect()


def unknown_opnum():
    dce = connect()
    dce.bind(SECOND)
    expect_fault(dce, 77, b"", NCA_S_OP_RNG_ERROR)
    second_call(dce)  # a fault ends only the call, not the association
    dce.disconnect()


def unknown_opnum_mgmt():
    dce = connect()
    dce.bind(MGMT)
    expect_fault(dce, 5, b"", NCA_S_OP_RNG_ERROR, did_not_execute=True)
    r = mgmt.his_server_listening(dce)
    assert r["status"] == 0
    dce.disconnect()


def unknown_interface():
    dce = connect()
    try:
        dce.bind(UNKNOWN_IF)
    except DCERPCException as e:
        msg = str(e)
        assert "provider_rejection" in msg and "abstract_syntax_not_supported" in msg, msg
        dce.disconnect()
        return
    raise AssertionError("bind to an unknown interface was accepted")


check("mgmt is_server_listening and inq_if_ids", mgmt_calls)
check("mgmt is_server_listening reply stub is 00000000 01000000", is_server_listening_bytes)
check("mgmt stop_server_listening denied with status 5", stop_server_listening_denied)
check(f"{'epm ept_map' if SAMBA else 'AsyncRPC NonAsyncFunc and AsyncFunc'}", sample_calls)
if not SAMBA:
    check("AsyncRPC Shutdown faults with status 5 (access denied)", shutdown_denied)
check("request fragmented into 16-byte fragments", fragmented_request)
check("alter_context to a second interface", alter_context)
check("alter_context to an unknown interface is rejected, association survives", alter_context_unknown)
check("two outstanding calls on one connection", two_outstanding)
check("unknown opnum faults with nca_s_op_rng_error (0x1c010002)", unknown_opnum)
check("mgmt unknown opnum faults 0x1c010002 with PFC_DID_NOT_EXECUTE", unknown_opnum_mgmt)
check("bind to an unknown interface is rejected (provider_rejection, abstract_syntax_not_supported)",
      unknown_interface)
print(f"impacket client ({ARGS.peer}): {passes} passed, {failures} failed")
sys.exit(min(failures, 100))
