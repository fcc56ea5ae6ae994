"""impacket's DCERPCServer as a peer for msrpc's client, on its happy path.

usage: impacket_server.py

Serves mgmt is_server_listening (opnum 2) and the AsyncRPC sample's NonAsyncFunc (opnum 0) on a free
port of 127.0.0.1, prints `listening on PORT`, and serves until it is killed. impacket's server handles
one connection at a time and is not a reference implementation (DESIGN.md section 5): only plain,
unfragmented calls are made to it.
"""
import struct
import sys

from impacket.dcerpc.v5.rpcrt import DCERPCServer

MGMT = ("afa8bd80-7d8a-11c9-bef4-08002b102989", "1.0")
ASYNCRPC = ("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b", "1.0")


def is_server_listening(_stub):
    # [out] error_status_t status = 0, boolean32 result = 1
    return struct.pack("<LL", 0, 1)


def non_async_func(stub):
    # [in, string] char*: max_count, offset, actual_count, then the characters and a NUL
    max_count, offset, actual = struct.unpack_from("<LLL", stub)
    text = stub[12:12 + actual]
    assert offset == 0 and actual <= max_count and text.endswith(b"\x00"), stub
    sys.stderr.write(f"impacket server: NonAsyncFunc({text[:-1]!r})\n")
    return b""


server = DCERPCServer()
server.setListenAddress("127.0.0.1")
server.setListenPort(0)
server.addCallbacks(MGMT, "", {2: is_server_listening})
server.addCallbacks(ASYNCRPC, "", {0: non_async_func})
server.daemon = True
server.start()
print(f"listening on {server.getListenPort()}", flush=True)
server.join()
