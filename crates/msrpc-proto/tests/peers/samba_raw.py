"""python3-samba's raw client against the msrpc-proto ServerConnection test shim.

The shim echoes every request stub prefixed with b"echo:" and faults opnum 9 with nca_s_op_rng_error.
Prints `ok` and exits 0 on success.
"""
import sys

from samba import credentials, param
from samba.dcerpc import base

port = int(sys.argv[1])
lp = param.LoadParm()
creds = credentials.Credentials()
creds.set_anonymous()
conn = base.ClientConnection(
    f"ncacn_ip_tcp:127.0.0.1[{port}]", ("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b", 1), lp, creds
)
for n in (0, 5, 100, 20000):
    stub = bytes((i * 7) % 256 for i in range(n))
    reply = conn.request(0, stub)
    assert reply == b"echo:" + stub, (n, len(reply))
try:
    conn.request(9, b"x")
    print("FAIL: no fault")
    sys.exit(1)
except RuntimeError as e:
    # Samba maps nca_s_op_rng_error to NT_STATUS_RPC_PROCNUM_OUT_OF_RANGE.
    assert e.args[0] == 0xC002002E, e.args
print("ok")
