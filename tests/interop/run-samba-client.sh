#!/usr/bin/env bash
# python3-samba's client calls `msrpc serve` on loopback while tshark captures; tshark's dissector then
# judges the bytes.
#
#   tests/interop/run-samba-client.sh               Samba reference run (when MSRPC_SAMBA_DIR is set), then msrpc
#   tests/interop/run-samba-client.sh --samba-only  only the reference run against samba-dcerpcd on 127.0.0.1:135
#
# The checks (samba_client.py): raw mgmt calls with exact reply stubs (is_server_listening 00000000 01000000,
# stop_server_listening 05000000, inq_if_ids NDR layout, inq_stats in the MS-RPCE form, an unknown opnum
# faulting with nca_s_op_rng_error); typed mgmt calls (is_server_listening, inq_if_ids, inq_stats,
# inq_princ_name, stop_server_listening denied); raw AsyncRPC calls, one of them 20 KB so Samba's client
# fragments it, and Shutdown denied. Every connection binds with Samba's two presentation contexts (NDR20 and
# bind-time feature negotiation). Then pcap_check.py as in run-impacket.sh.
# Prints `ok`/`FAIL`/`SKIP` lines and `N passed, M failed, K skipped`; exits non-zero on any failure.
source "$(dirname "$0")/lib.sh"
interop_init samba-client

samba_only=0
[ "${1:-}" = --samba-only ] && samba_only=1

py=/usr/bin/python3
require tshark tshark
require "python3-samba (/usr/bin/python3)" "$py"
if ! "$py" -c 'import samba.dcerpc.mgmt' 2>/dev/null; then
  peer_missing "samba-client: python3-samba is not importable by $py"
  finish
fi

if [ $samba_only -eq 1 ] || samba_reference; then
  echo "--- reference run: the same driver against samba-dcerpcd on 127.0.0.1:135"
  if capture_start "$work/samba.pcap" 135; then
    run_driver -l samba 180 "$py" "$interop_dir/samba_client.py" 135 --peer samba
    capture_stop
    # one connection per raw/typed client: 9 binds, 12 requests; 2 faults (unknown opnum, inq_princ_name)
    pcap_check -l samba "$work/samba.pcap" 135 \
      --expect bind=9 --expect bind_ack=9 --expect request=12 --expect response=10 --expect fault=2 \
      --expect-fault 0x1c010002
  fi
else
  peer_missing "reference run against Samba (MSRPC_SAMBA_DIR unset; see scripts/peers/samba.sh)"
fi

if [ $samba_only -eq 0 ]; then
  echo "--- msrpc serve"
  msrpc_build
  msrpc_start
  if capture_start "$work/msrpc.pcap" "$MSRPC_PORT"; then
    run_driver -l msrpc 180 "$py" "$interop_dir/samba_client.py" "$MSRPC_PORT" --peer msrpc
    capture_stop
  fi
  msrpc_stop
  # 13 connections; 18 requests if none were fragmented, so >= 20 proves the 20 KB NonAsyncFunc was;
  # 16 responses when every call succeeds (15 is asked, so a failed call is reported once, by the driver);
  # faults: the unknown opnum (0x1c010002) and the denied Shutdown (5)
  pcap_check -l msrpc "$work/msrpc.pcap" "$MSRPC_PORT" \
    --expect bind=13 --expect bind_ack=13 --expect request=20 --expect response=15 --expect fault=2 \
    --expect-fault 0x1c010002 --expect-fault 5
fi

finish
