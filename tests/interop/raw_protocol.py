#!/usr/bin/python3
"""Runs Samba's raw DCE/RPC conformance suite (samba.tests.dcerpc.raw_protocol) and writes one line a test.

    raw_protocol.py --out RESULTS.tsv [TEST_NAME ...]

The suite itself comes with python3-samba; this file only runs it and classifies each test by what it
used while it ran, so that the harness can tell the tests that judge an mgmt/epm server from those that
need something else. The classes, from the calls a test makes (recorded by wrapping them, nothing else is
changed):

    core        only mgmt and epm, with no auth, NTLM, SPNEGO-with-NTLM or anonymous logons
    krb5        a Kerberos security context (auth type 16 started through gensec)
    needs-np    an SMB named pipe (the suite's reconnect_smb_pipe, or a second connection to \\pipe\\...)
    needs-if    the netlogon or lsarpc interface (their abstract syntax), which msrpc serve does not host

A test in several classes takes the first of needs-np, needs-if, krb5. One test is krb5 by name
(SPNEGO_KERBEROS below): it starts SPNEGO with the user's credentials, which chooses Kerberos in the domain
Samba's team runs the suite in (and Windows was checked in), and its last assertion holds only then. Each output line is
`NAME<TAB>RESULT<TAB>CLASS<TAB>SECONDS<TAB>FIRST LINE OF THE FAILURE [WHERE IN THE SUITE]` with RESULT
one of pass, fail, error, skip; the full tracebacks go to RESULTS.tsv.tracebacks. The environment the suite reads (SERVER, USERNAME, PASSWORD, DOMAIN, REALM, SMB_CONF_PATH)
is set by run-raw-protocol.sh.
"""
import argparse
import os
import sys
import time
import traceback
import unittest

import samba.dcerpc.dcerpc as dcerpc
import samba.dcerpc.lsa
import samba.dcerpc.netlogon
import samba.tests.dcerpc.raw_protocol as suite
from samba import gensec
from samba.tests.dcerpc.raw_testcase import RawDCERPCTest

_tags = set()


def _wrap_module_fn(module, name, tag):
    inner = getattr(module, name)

    def wrapped(*args, **kwargs):
        _tags.add(tag)
        return inner(*args, **kwargs)

    setattr(module, name, wrapped)


def _install_probes():
    _wrap_module_fn(samba.dcerpc.netlogon, "abstract_syntax", "needs-if")
    _wrap_module_fn(samba.dcerpc.lsa, "abstract_syntax", "needs-if")

    reconnect = RawDCERPCTest.reconnect_smb_pipe

    def reconnect_smb_pipe(self, *args, **kwargs):
        _tags.add("needs-np")
        return reconnect(self, *args, **kwargs)

    RawDCERPCTest.reconnect_smb_pipe = reconnect_smb_pipe

    second = RawDCERPCTest.second_connection

    def second_connection(self, primary_address=None, *args, **kwargs):
        if primary_address is not None and primary_address.lower().startswith("\\pipe\\"):
            _tags.add("needs-np")
        return second(self, primary_address, *args, **kwargs)

    RawDCERPCTest.second_connection = second_connection

    start_client = gensec.Security.start_client

    class _Probe:
        """Forwards to a gensec client and records the mechanism it is started with."""

        def __init__(self, inner):
            self._inner = inner

        def start_mech_by_authtype(self, auth_type, level):
            if auth_type == dcerpc.DCERPC_AUTH_TYPE_KRB5:
                _tags.add("krb5")
            return self._inner.start_mech_by_authtype(auth_type, level)

        def __getattr__(self, name):
            return getattr(self._inner, name)

    def probed_start_client(settings):
        return _Probe(start_client(settings))

    # the suite reaches gensec through its own module-level name
    suite.gensec = _ProbedGensec(probed_start_client)
    import samba.tests.dcerpc.raw_testcase as testcase
    testcase.gensec = suite.gensec


class _ProbedGensec:
    """The gensec module as the suite sees it, with Security.start_client probed."""

    def __init__(self, start_client):
        class Security:
            pass

        for name in dir(gensec.Security):
            if not name.startswith("__"):
                setattr(Security, name, getattr(gensec.Security, name))
        Security.start_client = staticmethod(start_client)
        self.Security = Security

    def __getattr__(self, name):
        return getattr(gensec, name)


# Tests whose assertions need SPNEGO to choose Kerberos, although nothing in them asks for Kerberos by
# auth type. test_spnego_multiple_auth_hdr_signing turns header signing on with an alter_context and
# expects a request from a second context that does not sign its header to be faulted
# RPC_S_SEC_PKG_ERROR: with Kerberos that request's MIC covers the stub only and cannot verify; with NTLM
# (SPNEGO without a KDC) python3-samba signs the header whatever it was told, so no server can fault it
# (samba-dcerpcd fails it standalone too). Run in the AD DC's namespace, SPNEGO chooses Kerberos.
SPNEGO_KERBEROS = {"test_spnego_multiple_auth_hdr_signing"}


def _classify(tags, name=""):
    if name.rsplit(".", 1)[-1] in SPNEGO_KERBEROS:
        return "krb5"
    for tag in ("needs-np", "needs-if", "krb5"):
        if tag in tags:
            return tag
    return "core"


class _Recorder(unittest.TestResult):
    def __init__(self, out, tracebacks):
        super().__init__()
        self.out = out
        self.tracebacks = tracebacks
        self.t0 = 0.0

    def startTest(self, test):
        super().startTest(test)
        _tags.clear()
        self.t0 = time.monotonic()
        self.outcome = ("pass", "")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcome = ("fail", _first_line(err))
        self._keep(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self.outcome = ("error", _first_line(err))
        self._keep(test, err)

    def _keep(self, test, err):
        self.tracebacks.write(f"=== {test.id()}\n{''.join(traceback.format_exception(*err))}\n")
        self.tracebacks.flush()

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcome = ("skip", reason)

    def stopTest(self, test):
        super().stopTest(test)
        secs = time.monotonic() - self.t0
        name = test.id().split(".", 4)[-1].replace("raw_protocol.", "")
        result, why = self.outcome
        why = why.replace("\t", " ").replace("\n", " ")[:400]
        self.out.write(f"{name}\t{result}\t{_classify(_tags, name)}\t{secs:.2f}\t{why}\n")
        self.out.flush()


def _first_line(err):
    """The exception's first line, and where in the suite it was raised (its last frame in Samba's files)."""
    kind, value, tb = err
    text = f"{kind.__name__}: {value}".strip()
    line = text.splitlines()[0] if text else kind.__name__
    frames = [f for f in traceback.extract_tb(tb)
              if os.path.basename(f.filename) in ("raw_protocol.py", "raw_testcase.py")
              and f.filename != __file__]
    if frames:
        f = frames[-1]
        line += f" [{os.path.basename(f.filename)}:{f.lineno} {f.name}: {(f.line or '').strip()}]"
    return line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("tests", nargs="*", help="Class.test_name; all 194 when none is given")
    args = ap.parse_args()
    _install_probes()
    loader = unittest.TestLoader()
    if args.tests:
        tests = unittest.TestSuite(loader.loadTestsFromName(t, suite) for t in args.tests)
    else:
        tests = loader.loadTestsFromModule(suite)
    with open(args.out, "w") as out, open(args.out + ".tracebacks", "w") as tracebacks:
        tests.run(_Recorder(out, tracebacks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
