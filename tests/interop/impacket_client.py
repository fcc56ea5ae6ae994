"""impacket (a client no one here wrote) calls an msrpc server.

usage: impacket_client.py PORT

Each check prints `ok NAME` or `FAIL NAME: why`; the exit status is the number of failures.
The server must serve mgmt and the AsyncRPC sample interface (7f6c4340-eb67-11d1-b9d7-00c04fad9a3b v1.0).
"""
import sys

from impacket.dcerpc.v5 import mgmt, transport
from impacket.dcerpc.v5.dtypes import LPSTR, ULONG
from impacket.dcerpc.v5.ndr import NDRCALL
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.uuid import uuidtup_to_bin

PORT = int(sys.argv[1])
ASYNCRPC = uuidtup_to_bin(("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b", "1.0"))
UNKNOWN_IF = uuidtup_to_bin(("11111111-2222-3333-4444-555555555555", "1.0"))


class NonAsyncFunc(NDRCALL):
    opnum = 0
    structure = (("pszMessage", LPSTR),)


class NonAsyncFuncResponse(NDRCALL):
    structure = ()


class AsyncFunc(NDRCALL):
    opnum = 1
    structure = (("nAsychDelay", ULONG),)


class AsyncFuncResponse(NDRCALL):
    structure = ()


class UnknownOp(NDRCALL):
    opnum = 77
    structure = ()


failures = 0


def check(name, fn):
    global failures
    try:
        fn()
        print(f"ok {name}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)


def connect(max_frag=None):
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{PORT}]")
    dce = t.get_dce_rpc()
    if max_frag:
        dce.set_max_fragment_size(max_frag)
    dce.connect()
    return dce


def mgmt_calls():
    dce = connect()
    dce.bind(mgmt.MSRPC_UUID_MGMT)
    r = mgmt.his_server_listening(dce)
    assert r["status"] == 0, f"status {r['status']:#x}"
    ids = mgmt.hinq_if_ids(dce)
    uuids = set()
    for i in range(ids["if_id_vector"]["count"]):
        p = ids["if_id_vector"]["if_id"][i]
        uuids.add(bytes(p["Data"]["Uuid"]) if "Data" in p.fields else p.getData()[:16])
    assert ASYNCRPC[:16] in uuids, f"AsyncRPC missing from inq_if_ids: {len(uuids)} ids"
    assert mgmt.MSRPC_UUID_MGMT[:16] in uuids, "mgmt missing from inq_if_ids"
    dce.disconnect()


def sample_calls():
    dce = connect()
    dce.bind(ASYNCRPC)
    req = NonAsyncFunc()
    req["pszMessage"] = "hello from impacket\x00"
    dce.request(req)
    req = AsyncFunc()
    req["nAsychDelay"] = 10
    dce.request(req)
    dce.disconnect()


def fragmented_request():
    # 16-byte fragments force every request into many fragments; the message is 3000 bytes
    dce = connect(max_frag=16)
    dce.bind(ASYNCRPC)
    req = NonAsyncFunc()
    req["pszMessage"] = "x" * 3000 + "\x00"
    dce.request(req)
    dce.disconnect()


def alter_context():
    dce = connect()
    dce.bind(mgmt.MSRPC_UUID_MGMT)
    dce2 = dce.alter_ctx(ASYNCRPC)
    req = NonAsyncFunc()
    req["pszMessage"] = "via alter_context\x00"
    dce2.request(req)
    r = mgmt.his_server_listening(dce)
    assert r["status"] == 0
    dce.disconnect()


def two_outstanding():
    # Two requests on the wire before either response is read. impacket reads replies in order, so the
    # slow call goes first and the fast one second: the server must answer both, whatever the order.
    dce = connect()
    dce.bind(ASYNCRPC)
    slow = AsyncFunc()
    slow["nAsychDelay"] = 200
    fast = NonAsyncFunc()
    fast["pszMessage"] = "second\x00"
    dce.call(slow.opnum, slow)
    dce.call(fast.opnum, fast)
    a = dce.recv()
    b = dce.recv()
    assert a is not None and b is not None
    dce.disconnect()


def unknown_opnum():
    dce = connect()
    dce.bind(ASYNCRPC)
    try:
        dce.request(UnknownOp())
    except DCERPCException as e:
        code = e.get_error_code()
        assert code == 0x1C010002, f"expected nca_s_op_rng_error, got {code:#x}"
        dce.disconnect()
        return
    raise AssertionError("unknown opnum did not fault")


def unknown_interface():
    dce = connect()
    try:
        dce.bind(UNKNOWN_IF)
    except DCERPCException as e:
        assert "abstract_syntax_not_supported" in str(e) or "reject" in str(e).lower(), str(e)
        return
    raise AssertionError("bind to an unknown interface was accepted")


check("mgmt is_server_listening and inq_if_ids", mgmt_calls)
check("AsyncRPC NonAsyncFunc and AsyncFunc", sample_calls)
check("request fragmented into 16-byte fragments", fragmented_request)
check("alter_context to a second interface", alter_context)
check("two outstanding calls on one connection", two_outstanding)
check("unknown opnum faults with nca_s_op_rng_error", unknown_opnum)
check("bind to an unknown interface is rejected", unknown_interface)
print(f"impacket client: {7 - failures} passed, {failures} failed")
sys.exit(failures)
