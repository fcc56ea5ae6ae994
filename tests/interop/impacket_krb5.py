"""impacket's Kerberos (`-k`: SPNEGO carrying a Kerberos AP-REQ, auth type 9) against a DCE/RPC server,
with the service ticket from a ccache (KRB5CCNAME), as `impacket-* -k -no-pass` uses it.

usage: impacket_krb5.py HOST PORT --spn-host NAME --user USER --domain REALM [--kdc IP] [--levels ...]

impacket 0.13 cannot get a ticket from a Samba AD DC itself (its TGS-REQ authenticator has no checksum,
which Heimdal refuses: docs/auth.md), so the ccache holds tickets from MIT kinit + kvno. Each level binds
mgmt, calls inq_if_ids and is_server_listening. Prints `ok NAME` or `FAIL NAME: why`; the exit status is
the number of failures.
"""
import argparse
import sys

from impacket.dcerpc.v5 import mgmt, transport
from impacket.dcerpc.v5.rpcrt import (
    RPC_C_AUTHN_GSS_NEGOTIATE,
    RPC_C_AUTHN_LEVEL_CONNECT,
    RPC_C_AUTHN_LEVEL_PKT,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
)

ap = argparse.ArgumentParser()
ap.add_argument("host")
ap.add_argument("port", type=int)
ap.add_argument("--spn-host", required=True, help="the server's name: impacket asks for host/NAME")
ap.add_argument("--user", required=True)
ap.add_argument("--domain", required=True)
ap.add_argument("--kdc", default="127.0.0.1")
ap.add_argument("--levels", nargs="+", default=["connect", "integrity", "privacy"])
ap.add_argument("--refused", action="store_true",
                help="expect every logon refused (a ticket for another service)")
ARGS = ap.parse_args()
LEVELS = {
    "connect": RPC_C_AUTHN_LEVEL_CONNECT,
    "packet": RPC_C_AUTHN_LEVEL_PKT,
    "integrity": RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    "privacy": RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
}
failures = passes = 0


def check(name, fn):
    global failures, passes
    try:
        fn()
        passes += 1
        print(f"ok {name}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)


def mgmt_calls(level):
    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{ARGS.host}[{ARGS.port}]")
    t.setRemoteName(ARGS.spn_host)
    t.set_connect_timeout(10)
    t.set_credentials(ARGS.user, "", ARGS.domain)
    t.set_kerberos(True, kdcHost=ARGS.kdc)
    dce = t.get_dce_rpc()
    dce.set_auth_type(RPC_C_AUTHN_GSS_NEGOTIATE)
    dce.set_auth_level(LEVELS[level])
    dce.connect()
    dce.bind(mgmt.MSRPC_UUID_MGMT)
    r = mgmt.hinq_if_ids(dce)
    assert r["if_id_vector"]["count"] >= 1
    assert mgmt.his_server_listening(dce)["status"] == 0
    dce.disconnect()


def refused(level):
    try:
        mgmt_calls(level)
    except Exception as e:  # noqa: BLE001 - a fault or a dropped connection is a refusal
        print(f"  refused: {type(e).__name__}: {e}", flush=True)
        return
    raise AssertionError("the logon was accepted")


for level in ARGS.levels:
    if ARGS.refused:
        check(f"impacket -k (ccache) {level}: a ticket for host/{ARGS.spn_host} is refused",
              lambda level=level: refused(level))
    else:
        check(f"impacket -k (ccache) {level}: mgmt inq_if_ids and is_server_listening",
              lambda level=level: mgmt_calls(level))
print(f"impacket Kerberos client: {passes} passed, {failures} failed")
sys.exit(min(failures, 100))
