"""impacket logs on with NTLM to the C server with security (crates/msrpc-c/tests/fixtures/auth_server.c
in its `callback` mode: RpcServerRegisterAuthInfo(RPC_C_AUTHN_WINNT) with the accounts of
MSRPC_USERS_FILE, and a security callback refusing CORP\\bob).

usage: impacket_c_server_auth.py PORT

Checks: alice at privacy and at integrity calls NonAsyncFunc and AsyncFunc; CORP\\bob (a valid logon) is
refused by the callback with access denied; a wrong password and no authentication are refused; last,
alice's Shutdown stops the server. Prints `ok NAME` / `FAIL NAME: why`; exits with the number of failures.
"""

import sys

from impacket.dcerpc.v5 import transport
from impacket.dcerpc.v5.dtypes import STR, ULONG
from impacket.dcerpc.v5.ndr import NDRCALL
from impacket.dcerpc.v5.rpcrt import (
    DCERPCException,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
    RPC_C_AUTHN_WINNT,
)
from impacket.uuid import uuidtup_to_bin

PORT = int(sys.argv[1])
ASYNCRPC = uuidtup_to_bin(("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b", "1.0"))
TIMEOUT = 10


class NonAsyncFunc(NDRCALL):
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


def connect(user, password, domain, level):
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{PORT}]")
    t.set_connect_timeout(TIMEOUT)
    dce = t.get_dce_rpc()
    if user is not None:
        dce.set_credentials(user, password, domain)
        dce.set_auth_type(RPC_C_AUTHN_WINNT)
        dce.set_auth_level(level)
    dce.connect()
    dce.bind(ASYNCRPC)
    return dce


def message(dce, text):
    req = NonAsyncFunc()
    req["pszMessage"] = text + "\x00"
    # void operations: the response stub is empty, so no error code to check in it; a fault
    # still raises.
    dce.request(req, checkError=False)


def calls(level, name):
    dce = connect("alice", "Al1ce-pw", "", level)
    message(dce, f"impacket {name}")
    req = AsyncFunc()
    req["nAsychDelay"] = 10
    dce.request(req, checkError=False)
    dce.disconnect()


def denied(fn, fault_only=False):
    try:
        fn()
    except DCERPCException as e:
        msg = str(e).lower()
        assert "access_denied" in msg or "0x5" in msg or "0x00000005" in msg, msg
        return
    except Exception:  # noqa: BLE001 - a refused logon may also drop the connection
        if fault_only:
            raise
        return
    raise AssertionError("the call was accepted")


check("alice at privacy: NonAsyncFunc and AsyncFunc", lambda: calls(RPC_C_AUTHN_LEVEL_PKT_PRIVACY, "privacy"))
check("alice at integrity: NonAsyncFunc and AsyncFunc", lambda: calls(RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, "integrity"))
check(
    "CORP\\bob refused by the C security callback",
    # bob logs on; the callback refuses his call: a fault with access denied, nothing else.
    lambda: denied(
        lambda: message(connect("bob", "b0b-pw", "CORP", RPC_C_AUTHN_LEVEL_PKT_PRIVACY), "bob"), fault_only=True
    ),
)
check(
    "a wrong password refused",
    lambda: denied(lambda: message(connect("alice", "wrong", "", RPC_C_AUTHN_LEVEL_PKT_PRIVACY), "wrong")),
)
check("no authentication refused", lambda: denied(lambda: message(connect(None, "", "", 0), "anonymous")))


def shutdown():
    dce = connect("alice", "Al1ce-pw", "", RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    dce.request(Shutdown(), checkError=False)
    dce.disconnect()


check("alice's Shutdown answered (the manager stops the server)", shutdown)
sys.exit(failures)
