#!/usr/bin/env bash
# impacket calls `msrpc serve` on loopback while tshark captures; tshark's dissector then judges the bytes.
#
#   tests/interop/run-impacket.sh               Samba reference run (when MSRPC_SAMBA_DIR is set), then msrpc
#   tests/interop/run-impacket.sh --samba-only  only the reference run against samba-dcerpcd on 127.0.0.1:135
#
# The checks (impacket_client.py): bind; mgmt is_server_listening (exact reply stub) and inq_if_ids;
# stop_server_listening denied with status 5; AsyncRPC NonAsyncFunc/AsyncFunc; Shutdown denied with fault 5;
# a request cut into 16-byte fragments; alter_context to a second interface; alter_context to an unknown
# interface rejected without breaking the association; two outstanding calls matched by call_id; unknown
# opnums fault with nca_s_op_rng_error; a bind to an unknown interface rejected with provider_rejection /
# abstract_syntax_not_supported. Then pcap_check.py: no malformed or warning-level DCE/RPC packet, and the
# capture holds the PDUs those checks must have produced.
# Prints `ok`/`FAIL`/`SKIP` lines and `N passed, M failed, K skipped`; exits non-zero on any failure.
source "$(dirname "$0")/lib.sh"
interop_init impacket

samba_only=0
[ "${1:-}" = --samba-only ] && samba_only=1

require tshark tshark
py=$(impacket_python)
require "impacket (python venv)" "$py"

if [ $samba_only -eq 1 ] || samba_reference; then
  echo "--- reference run: the same driver against samba-dcerpcd on 127.0.0.1:135"
  if capture_start "$work/samba.pcap" 135; then
    run_driver -l samba 180 "$py" "$interop_dir/impacket_client.py" 135 --peer samba
    capture_stop
    # 11 connections, 2 of them with an alter_context; ept_map in 16-byte fragments is 9 request PDUs
    pcap_check -l samba "$work/samba.pcap" 135 \
      --expect bind=11 --expect bind_ack=11 --expect alter_context=2 --expect alter_context_resp=2 \
      --expect request=25 --expect response=15 --expect fault=2 --expect-fault 0x1c010002
  fi
else
  peer_missing "reference run against Samba (MSRPC_SAMBA_DIR unset; see scripts/peers/samba.sh)"
fi

if [ $samba_only -eq 0 ]; then
  echo "--- msrpc serve"
  msrpc_build
  msrpc_start
  if capture_start "$work/msrpc.pcap" "$MSRPC_PORT"; then
    run_driver -l msrpc 180 "$py" "$interop_dir/impacket_client.py" "$MSRPC_PORT" --peer msrpc
    capture_stop
  fi
  msrpc_stop
  # 12 connections, 2 of them with an alter_context; the 3000-byte NonAsyncFunc alone is ~190 request PDUs;
  # faults: two unknown opnums (0x1c010002) and the denied Shutdown (5)
  pcap_check -l msrpc "$work/msrpc.pcap" "$MSRPC_PORT" \
    --expect bind=12 --expect bind_ack=12 --expect alter_context=2 --expect alter_context_resp=2 \
    --expect request=200 --expect response=15 --expect fault=3 \
    --expect-fault 0x1c010002 --expect-fault 5
fi

finish
