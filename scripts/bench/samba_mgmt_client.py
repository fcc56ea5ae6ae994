#!/usr/bin/python3
"""python3-samba's client calling mgmt is_server_listening, one call at a time, for `msrpc bench`.

Usage: samba_mgmt_client.py BINDING SECONDS   (e.g. 'ncacn_ip_tcp:127.0.0.1[135]' 3)

Connects once (anonymous, no authentication, as msrpc's client does), makes one warm-up call, then
calls for SECONDS and prints one JSON row in the shape `msrpc bench` reads. The loop is bounded by
the deadline; errors are counted, and after 100 the loop stops.
"""
import json
import sys
import time

from samba import credentials, param
from samba.dcerpc import mgmt


def main():
    binding, seconds = sys.argv[1], float(sys.argv[2])
    lp = param.LoadParm()
    creds = credentials.Credentials()
    creds.set_anonymous()
    conn = mgmt.mgmt(binding, lp, creds)
    conn.request_timeout = 10
    conn.is_server_listening()
    lat = []
    errors = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline and errors < 100:
        t = time.perf_counter()
        try:
            status, result = conn.is_server_listening()
            if status == 0 and result:
                lat.append(time.perf_counter() - t)
            else:
                errors += 1
        except Exception:  # noqa: BLE001 -- counted, the row says how many
            errors += 1
    elapsed = time.perf_counter() - t0
    lat.sort()

    def pct(p):
        if not lat:
            return None
        rank = max(1, min(len(lat), int(-(-p / 100.0 * len(lat) // 1))))
        return lat[rank - 1] * 1e6

    print(json.dumps({
        "group": "samba",
        "name": "python3-samba client -> samba-dcerpcd: mgmt is_server_listening",
        "payload": 0,
        "outstanding": 1,
        "connections": 1,
        "calls": len(lat),
        "errors": errors,
        "seconds": elapsed,
        "bytes": 0,
        "p50_us": pct(50),
        "p99_us": pct(99),
        "note": "",
    }))


if __name__ == "__main__":
    main()
