"""impacket against the msrpc-proto ServerConnection test shim: bind, 16-byte request fragments,
an object UUID, alter_context to a second interface, and a fault. Prints `ok` on success."""
import sys

from impacket.dcerpc.v5 import transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.uuid import string_to_bin, uuidtup_to_bin

port = int(sys.argv[1])
ASYNC = uuidtup_to_bin(("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b", "1.0"))
MGMT = uuidtup_to_bin(("afa8bd80-7d8a-11c9-bef4-08002b102989", "1.0"))

t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port}]")
dce = t.get_dce_rpc()
dce.connect()
dce.bind(ASYNC)
dce.set_max_fragment_size(16)
stub = bytes(range(200))
dce.call(0, stub)
assert dce.recv() == b"echo:" + stub
dce.set_max_fragment_size(0)
dce.call(1, b"abc", uuid=string_to_bin("01234567-89ab-cdef-0123-456789abcdef"))
assert dce.recv() == b"echo:obj:abc"
dce2 = dce.alter_ctx(MGMT)
dce2.call(2, b"mgmt")
assert dce2.recv() == b"echo:mgmt"
try:
    dce.call(9, b"x")
    dce.recv()
    print("FAIL: no fault")
    sys.exit(1)
except DCERPCException as e:
    assert "nca_s_op_rng_error" in str(e) or "0x1c010002" in str(e), str(e)
print("ok")
