"""python3-samba calls a DCE/RPC server with Kerberos (auth type 16, no NTLM fallback) at the connect,
packet ([packet]), integrity ([sign]) and privacy ([seal]) levels, and with SPNEGO choosing Kerberos
([spnego], [spnego,packet], [spnego,sign], [spnego,seal]: MUST_USE_KERBEROS credentials, so only Kerberos
is offered, with mechListMICs both ways),
with a ticket from the Samba AD DC's KDC, and a wrong password must be refused. Runs inside the DC's network namespace (scripts/peers/addc.sh exec).

usage: addc.sh exec DIR /usr/bin/python3 samba_krb5.py PORT TARGET_HOST [--peer dc|msrpc]

TARGET_HOST names the server's principal host/TARGET_HOST (dc1.ad.msrpc.test for the DC itself).
The user, realm and password file come from the MSRPC_ADDC_* variables addc.sh sets.
Each check prints `ok NAME` or `FAIL NAME: why`; the exit status is the number of failures.
"""
import argparse
import os
import sys

from samba import credentials, param
from samba.dcerpc import mgmt

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("target_host")
ap.add_argument("--peer", choices=["dc", "msrpc"], default="dc")
ARGS = ap.parse_args()
REALM = os.environ["MSRPC_ADDC_REALM"]
with open(os.environ["MSRPC_ADDC_PASSWORD_FILE"]) as f:
    PASSWORD = f.read().strip()

LP = param.LoadParm()
LP.set("realm", REALM)
LP.set("interfaces", "lo")
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


def creds(password=PASSWORD):
    c = credentials.Credentials()
    c.guess(LP)
    c.set_username(os.environ["MSRPC_ADDC_USER"])
    c.set_realm(REALM)
    c.set_domain(os.environ["MSRPC_ADDC_DOMAIN"])
    c.set_password(password)
    c.set_kerberos_state(credentials.MUST_USE_KERBEROS)
    return c


def binding(option, mech="krb5"):
    opts = ",".join(o for o in (mech, option, f"target_hostname={ARGS.target_host}") if o)
    return f"ncacn_ip_tcp:127.0.0.1[{ARGS.port},{opts}]"


def calls(option, mech="krb5"):
    def run():
        m = mgmt.mgmt(binding(option, mech), LP, creds())
        ids = m.inq_if_ids()
        if ids.count < 1:
            raise AssertionError(f"inq_if_ids listed {ids.count} interfaces")
        status, listening = m.is_server_listening()
        if (status, listening) != (0, 1):
            raise AssertionError(f"is_server_listening gave status {status}, listening {listening}")
    return run


def wrong_password():
    try:
        m = mgmt.mgmt(binding("seal"), LP, creds("Wr0ng-pw-" + PASSWORD))
        m.inq_if_ids()
    except Exception as e:  # noqa: BLE001 - the refusal is the expected outcome
        # NT_STATUS_LOGON_FAILURE
        if e.args and e.args[0] == 0xC000006D:
            return
        raise AssertionError(f"refused, but not as NT_STATUS_LOGON_FAILURE: {e}") from e
    raise AssertionError("a wrong password was accepted")


LEVELS = (("connect", ""), ("packet", "packet"), ("integrity", "sign"), ("privacy", "seal"))
for level, option in LEVELS:
    check(f"python3-samba Kerberos {level}: mgmt inq_if_ids and is_server_listening to "
          f"{ARGS.peer} (host/{ARGS.target_host})", calls(option))
for level, option in LEVELS:
    check(f"python3-samba SPNEGO/Kerberos {level}: mgmt inq_if_ids and is_server_listening to "
          f"{ARGS.peer} (host/{ARGS.target_host})", calls(option, "spnego"))
check(f"python3-samba Kerberos with a wrong password is refused by the KDC ({ARGS.peer})", wrong_password)
sys.exit(failures)
