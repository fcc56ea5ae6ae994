"""python3-samba (a client no one here wrote) logs on to a DCE/RPC server with NTLM, directly and
inside SPNEGO (Negotiate), and makes signed and sealed calls. Unlike impacket it verifies every signature the server sends and sends a
verification trailer, so it judges our server's side of the protection.

usage: /usr/bin/python3 samba_auth.py PORT --user USER --password-env VAR [--peer msrpc|samba]

Each check prints `ok NAME` or `FAIL NAME: why`; the exit status is the number of failures.

--peer msrpc (default): `msrpc serve --users FILE --min-auth-level integrity`.
--peer samba: samba-dcerpcd's mgmt on 127.0.0.1:135 (the reference run).
--ntlmv1: instead, `client ntlmv2 auth = no` (python3-samba then sends NTLMv1 responses), NTLM and SPNEGO
    at connect, sign and seal against `msrpc serve --users FILE`: refused, the right password too
    (docs/auth.md: msrpc does not accept NTLMv1).

Only the typed mgmt client is used: python3-samba 4.17's raw `base.ClientConnection` crashes the
interpreter (SIGSEGV) as soon as it is given credentials, against samba-dcerpcd as much as against
msrpc, so the AsyncRPC sample is driven by impacket instead (impacket_auth.py).
"""
import argparse
import os
import sys

from samba import credentials, param
from samba.dcerpc import mgmt

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--user", required=True)
ap.add_argument("--password-env", required=True)
ap.add_argument("--peer", choices=["msrpc", "samba"], default="msrpc")
ap.add_argument("--ntlmv1", action="store_true")
ARGS = ap.parse_args()
SAMBA = ARGS.peer == "samba"
PASSWORD = os.environ[ARGS.password_env]
DOMAIN, _, USER = ARGS.user.rpartition("\\")
TIMEOUT = 10

LP = param.LoadParm()
if ARGS.ntlmv1:
    LP.set("client ntlmv2 auth", "no")
    LP.set("client lanman auth", "no")
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
    c.set_username(USER)
    c.set_domain(DOMAIN)
    c.set_password(password)
    # No KDC here: SPNEGO offers NTLM only, as a Windows client without a domain does.
    c.set_kerberos_state(credentials.DONT_USE_KERBEROS)
    return c


def binding(option):
    # "sign,ntlm" or "sign,spnego": the option, then the package.
    return f"ncacn_ip_tcp:127.0.0.1[{ARGS.port},{option}]"


def mgmt_calls(option):
    m = mgmt.mgmt(binding(option), LP, creds())
    m.request_timeout = TIMEOUT
    for _ in range(3):
        ids = m.inq_if_ids()
        assert ids.count >= 1, f"inq_if_ids listed {ids.count} interfaces"
        status, listening = m.is_server_listening()
        assert (status, listening) == (0, 1), (status, listening)


NT_STATUS_ACCESS_DENIED = 0xC0000022
RPC_NT_PROTOCOL_ERROR = 0xC002001D


NT_STATUS_LOGON_FAILURE = 0xC000006D


def wrong_password(option):
    # NTLM: msrpc answers the first call after a failed logon with fault 5 (access denied), as
    # Windows does; samba-dcerpcd answers it with nca_s_proto_error (docs/interop.md). SPNEGO: the
    # last leg (alter_context) is refused with fault 5, which python3-samba reports as a logon
    # failure of the bind.
    if option.endswith("spnego"):
        expected = {NT_STATUS_LOGON_FAILURE}
    else:
        expected = {RPC_NT_PROTOCOL_ERROR} if SAMBA else {NT_STATUS_ACCESS_DENIED}
    try:
        m = mgmt.mgmt(binding(option), LP, creds(PASSWORD + "-wrong"))
        m.request_timeout = TIMEOUT
        m.is_server_listening()
    except RuntimeError as e:
        code = e.args[0] & 0xFFFFFFFF
        assert code in expected, f"{code:#x} {e}"
        print(f"  refused: {code:#x} {e.args[1]}", flush=True)
        return
    raise AssertionError("the call was accepted")


def ntlmv1_refused(option):
    # NTLM: the first call after the failed logon gets fault 5 (access denied); SPNEGO: its last
    # leg does, which python3-samba reports as a logon failure.
    try:
        m = mgmt.mgmt(binding(option), LP, creds())
        m.request_timeout = TIMEOUT
        m.is_server_listening()
    except RuntimeError as e:
        code = e.args[0] & 0xFFFFFFFF
        assert code in {NT_STATUS_ACCESS_DENIED, NT_STATUS_LOGON_FAILURE}, f"{code:#x} {e}"
        print(f"  refused: {code:#x} {e.args[1]}", flush=True)
        return
    raise AssertionError("an NTLMv1 logon was accepted")


if ARGS.ntlmv1:
    for package in ["ntlm", "spnego"]:
        for level in ["connect", "sign", "seal"]:
            option = f"{level},{package}"
            check(f"NTLMv1 [{option}] with the right password is refused",
                  lambda o=option: ntlmv1_refused(o))
    print(f"python3-samba NTLMv1 ({ARGS.peer}): {passes} passed, {failures} failed")
    sys.exit(min(failures, 100))

for package in ["ntlm", "spnego"]:
    for level in ["sign", "seal"]:
        option = f"{level},{package}"
        name = "NTLM" if package == "ntlm" else "SPNEGO (NTLM)"
        check(f"{name} [{option}]: mgmt inq_if_ids and is_server_listening",
              lambda o=option: mgmt_calls(o))
        check(f"{name} [{option}]: a wrong password is refused", lambda o=option: wrong_password(o))
print(f"python3-samba NTLM and SPNEGO clients ({ARGS.peer}): {passes} passed, {failures} failed")
sys.exit(min(failures, 100))
