"""impacket calls the C server (examples/c/asyncrpc/server.c on libmsrpc_c).

usage: impacket_c_server.py PORT

Checks: bind to AsyncRPC; NonAsyncFunc with a string; AsyncFunc (the [async] manager completes it from
its worker thread); mgmt is_server_listening; Shutdown (the manager stops the server) answered.
Prints `ok NAME` / `FAIL NAME: why`; exits with the number of failures.
"""

import sys

from impacket.dcerpc.v5 import mgmt, transport
from impacket.dcerpc.v5.dtypes import STR, ULONG
from impacket.dcerpc.v5.ndr import NDRCALL
from impacket.uuid import uuidtup_to_bin

PORT = int(sys.argv[1])
ASYNCRPC = uuidtup_to_bin(("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b", "1.0"))
TIMEOUT = 10


class NonAsyncFunc(NDRCALL):
    # [in, string] unsigned char *: a top-level [ref] pointer, the string in place
    opnum = 0
    structure = (("pszMessage", STR),)


class NonAsyncFuncResponse(NDRCALL):
    structure = ()


class AsyncFunc(NDRCALL):
    opnum = 1
    structure = (("nAsychDelay", ULONG),)


class AsyncFuncResponse(NDRCALL):
    structure = ()


class Shutdown(NDRCALL):
    opnum = 2
    structure = ()


class ShutdownResponse(NDRCALL):
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


def connect():
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{PORT}]")
    t.set_connect_timeout(TIMEOUT)
    dce = t.get_dce_rpc()
    dce.connect()
    return dce


dce = connect()
check("bind AsyncRPC on the C server", lambda: dce.bind(ASYNCRPC))


def non_async():
    req = NonAsyncFunc()
    req["pszMessage"] = "hello from impacket\x00"
    resp = dce.request(req, checkError=False)
    assert resp is not None


def async_func():
    req = AsyncFunc()
    req["nAsychDelay"] = 200
    resp = dce.request(req, checkError=False)
    assert resp is not None


check("NonAsyncFunc answered by the C manager", non_async)
check("AsyncFunc completed by the C [async] manager", async_func)


def listening():
    m = connect()
    m.bind(mgmt.MSRPC_UUID_MGMT)
    r = mgmt.his_server_listening(m)
    assert r["status"] == 0, f"status {r['status']:#x}"
    m.disconnect()


check("mgmt is_server_listening", listening)
check("Shutdown answered (the manager stops the server)", lambda: dce.request(Shutdown(), checkError=False))
dce.disconnect()
sys.exit(failures)
