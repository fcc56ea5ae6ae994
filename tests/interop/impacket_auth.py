"""impacket (a client no one here wrote) logs on to a DCE/RPC server with NTLM and makes signed and
sealed calls.

usage: impacket_auth.py PORT --user USER --password-env VAR [--peer msrpc|samba] [--low-levels]

Each check prints `ok NAME` or `FAIL NAME: why`; the exit status is the number of failures.

--peer msrpc (default): `msrpc serve --users FILE --min-auth-level integrity`: mgmt and the AsyncRPC
    sample, both refusing calls below integrity.
--peer samba: samba-dcerpcd's mgmt on 127.0.0.1:135, which proves the checks themselves (Samba does not
    refuse unauthenticated mgmt calls, so that check is msrpc-only).
--low-levels: instead, the connect and packet levels against `msrpc serve --users FILE` (no minimum
    level): mgmt calls with the right password, and a wrong one refused. impacket sends no NTLM MIC, so
    only the server's own check of the NTLMv2 response (NTProofStr) decides these logons.
--anonymous --epm-port P: instead, anonymous NTLM logons (impacket's empty user and password: empty LM
    and NT responses, MS-NLMP 3.2.5.1.2) at the connect level against `msrpc serve --users FILE --epm
    --epm-port P`: mgmt and the endpoint mapper serve them, the AsyncRPC sample refuses them with access
    denied. With --refused (a server started with --no-anonymous) all three refuse them.
--ntlmv1: instead, impacket's NTLMv1 (ntlm.USE_NTLMv2 = False) at connect, packet, integrity and
    privacy against `msrpc serve --users FILE`: refused at every level (docs/auth.md: msrpc does not
    accept NTLMv1), the right password as much as a wrong one.

impacket signs and seals what it sends and unseals what it receives, but never verifies the server's
signatures; our server's signatures are verified by msrpc's own client tests and by python3-samba.
"""
import argparse
import os
import sys

from impacket.dcerpc.v5 import mgmt, transport
from impacket.dcerpc.v5.dtypes import STR, ULONG
from impacket.dcerpc.v5.ndr import NDRCALL
from impacket.dcerpc.v5.rpcrt import (
    DCERPCException,
    RPC_C_AUTHN_LEVEL_CONNECT,
    RPC_C_AUTHN_LEVEL_PKT,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
    RPC_C_AUTHN_WINNT,
)
from impacket.uuid import uuidtup_to_bin

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--user", required=True)
ap.add_argument("--password-env", required=True)
ap.add_argument("--peer", choices=["msrpc", "samba"], default="msrpc")
ap.add_argument("--low-levels", action="store_true")
ap.add_argument("--anonymous", action="store_true")
ap.add_argument("--refused", action="store_true")
ap.add_argument("--epm-port", type=int)
ap.add_argument("--ntlmv1", action="store_true")
ARGS = ap.parse_args()
PORT = ARGS.port
SAMBA = ARGS.peer == "samba"
PASSWORD = os.environ[ARGS.password_env]
DOMAIN, _, USER = ARGS.user.rpartition("\\")

ASYNCRPC = uuidtup_to_bin(("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b", "1.0"))
TIMEOUT = 10
LEVELS = {
    "connect": RPC_C_AUTHN_LEVEL_CONNECT,
    "packet": RPC_C_AUTHN_LEVEL_PKT,
    "integrity": RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    "privacy": RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
}
# A marker the tshark check looks for in the decrypted capture.
MARKER = "sealed hello from impacket"


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


def connect(level, password=PASSWORD, max_frag=None, user=None, port=None):
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port or PORT}]")
    t.set_connect_timeout(TIMEOUT)
    dce = t.get_dce_rpc()
    if level is not None:
        dce.set_credentials(USER if user is None else user, password, "" if user == "" else DOMAIN)
        dce.set_auth_type(RPC_C_AUTHN_WINNT)
        dce.set_auth_level(LEVELS[level])
    if max_frag:
        dce.set_max_fragment_size(max_frag)
    dce.connect()
    return dce


def mgmt_calls(level):
    dce = connect(level)
    dce.bind(mgmt.MSRPC_UUID_MGMT)
    r = mgmt.hinq_if_ids(dce)
    n = r["if_id_vector"]["count"]
    assert n >= 1, f"inq_if_ids listed {n} interfaces"
    r = mgmt.his_server_listening(dce)
    assert r["status"] == 0, r.dump()
    dce.disconnect()


def sample_calls(level, max_frag=None):
    dce = connect(level, max_frag=max_frag)
    dce.bind(ASYNCRPC)
    for i in range(3):
        req = NonAsyncFunc()
        req["pszMessage"] = f"{MARKER} {level} {i}" + ("x" * 300 if max_frag else "") + "\x00"
        dce.request(req, checkError=False)
    req = AsyncFunc()
    req["nAsychDelay"] = 10
    dce.request(req, checkError=False)
    dce.disconnect()


def second_context(level):
    # impacket's alter_ctx opens a second NTLM security context (a new auth_context_id) on the same
    # connection, with its own three legs (alter_context, alter_context_resp, rpc_auth_3).
    dce = connect(level)
    dce.bind(mgmt.MSRPC_UUID_MGMT)
    assert mgmt.his_server_listening(dce)["status"] == 0
    dce2 = dce.alter_ctx(ASYNCRPC)
    req = NonAsyncFunc()
    req["pszMessage"] = f"{MARKER} second context {level}\x00"
    dce2.request(req, checkError=False)
    assert mgmt.his_server_listening(dce)["status"] == 0, "the first context still works"
    dce.disconnect()


def denied(fn):
    try:
        fn()
    except DCERPCException as e:
        msg = str(e).lower()
        assert "access_denied" in msg or "0x5" in msg or "nca_s_proto_error" in msg, msg
        return str(e)
    except Exception as e:  # noqa: BLE001 - a dropped connection after the fault is also a refusal
        return f"{type(e).__name__}: {e}"
    raise AssertionError("the call was accepted")


def wrong_password(level):
    def go():
        dce = connect(level, password=PASSWORD + "-wrong")
        dce.bind(mgmt.MSRPC_UUID_MGMT)
        mgmt.his_server_listening(dce)
    print(f"  refused: {denied(go)}", flush=True)


def unauthenticated_refused():
    def go():
        dce = connect(None)
        dce.bind(mgmt.MSRPC_UUID_MGMT)
        mgmt.his_server_listening(dce)
    print(f"  refused: {denied(go)}", flush=True)


def anonymous_mgmt():
    dce = connect("connect", password="", user="")
    dce.bind(mgmt.MSRPC_UUID_MGMT)
    r = mgmt.hinq_if_ids(dce)
    assert r["if_id_vector"]["count"] >= 1
    dce.disconnect()


def anonymous_epm():
    dce = connect("connect", password="", user="", port=ARGS.epm_port)
    r = epm.hept_lookup(None, dce=dce)  # binds the endpoint mapper itself
    assert len(r) >= 1, r
    dce.disconnect()


def anonymous_sample():
    dce = connect("connect", password="", user="")
    dce.bind(ASYNCRPC)
    req = NonAsyncFunc()
    req["pszMessage"] = "anonymous\x00"
    dce.request(req)


def refused(fn):
    def go():
        print(f"  refused: {denied(fn)}", flush=True)
    return go


if ARGS.anonymous:
    from impacket.dcerpc.v5 import epm
    if ARGS.refused:
        check("anonymous NTLM (connect): mgmt refuses it", refused(anonymous_mgmt))
        check("anonymous NTLM (connect): the endpoint mapper refuses it", refused(anonymous_epm))
    else:
        check("anonymous NTLM (connect): mgmt inq_if_ids", anonymous_mgmt)
        check("anonymous NTLM (connect): the endpoint mapper's ept_lookup", anonymous_epm)
    check("anonymous NTLM (connect): the AsyncRPC sample refuses it", refused(anonymous_sample))
    print(f"impacket anonymous NTLM ({'--no-anonymous' if ARGS.refused else 'default'}): "
          f"{passes} passed, {failures} failed")
    sys.exit(min(failures, 100))

if ARGS.ntlmv1:
    from impacket import ntlm
    ntlm.USE_NTLMv2 = False
    for level in ["connect", "packet", "integrity", "privacy"]:
        check(f"NTLMv1 {level}: the right password is refused",
              lambda level=level: print(f"  refused: {denied(lambda: mgmt_calls(level))}", flush=True))
        check(f"NTLMv1 {level}: a wrong password is refused", lambda level=level: wrong_password(level))
    print(f"impacket NTLMv1 client: {passes} passed, {failures} failed")
    sys.exit(min(failures, 100))

if ARGS.low_levels:
    for level in ["connect", "packet"]:
        check(f"NTLM {level}: mgmt inq_if_ids and is_server_listening", lambda level=level: mgmt_calls(level))
        check(f"NTLM {level}: a wrong password is refused", lambda level=level: wrong_password(level))
    print(f"impacket NTLM client ({ARGS.peer}, connect and packet): {passes} passed, {failures} failed")
    sys.exit(min(failures, 100))

for level in ["integrity", "privacy"]:
    check(f"NTLM {level}: mgmt inq_if_ids and is_server_listening", lambda level=level: mgmt_calls(level))
    if not SAMBA:
        check(f"NTLM {level}: AsyncRPC NonAsyncFunc x3 and AsyncFunc", lambda level=level: sample_calls(level))
        check(f"NTLM {level}: requests in 64-byte fragments",
              lambda level=level: sample_calls(level, max_frag=64))
        check(f"NTLM {level}: a second security context on the same connection (alter_context)",
              lambda level=level: second_context(level))
    check(f"NTLM {level}: a wrong password is refused", lambda level=level: wrong_password(level))
if not SAMBA:
    check("an unauthenticated call below the minimum level is refused", unauthenticated_refused)
print(f"impacket NTLM client ({ARGS.peer}): {passes} passed, {failures} failed")
sys.exit(min(failures, 100))
