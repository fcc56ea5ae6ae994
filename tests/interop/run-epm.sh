#!/usr/bin/env bash
# msrpc's endpoint mapper against real clients, and msrpc's epm client against Samba's.
#
# rpcclient always connects to port 135, and scripts/test runs samba-dcerpcd on 127.0.0.1:135, so msrpc's
# endpoint mapper runs on 127.0.0.1:135 inside a network namespace of its own (needs root: `ip netns`).
# In the namespace, while tshark captures its loopback:
#   - `msrpc serve --epm` with two dynamic listeners (ports from 0): both registered for AsyncRPC;
#   - `rpcclient -U% ncacn_ip_tcp:127.0.0.1 -c epmlookup` lists both and ends with "no more entries";
#   - python3-samba's epmapper client (samba_epm.py): epm_Lookup paged, by interface, LookupHandleFree,
#     epm_Map;
#   - impacket (impacket_epm.py): hept_lookup, hept_map, an unknown interface;
#   - `msrpc epm --json ncacn_ip_tcp:127.0.0.1` (port 135 implied) lists both;
#   - a second server started with `--register-with ncacn_ip_tcp:127.0.0.1[135]` appears (ept_insert) and
#     disappears when it stops (ept_delete);
#   - tshark's dcerpc/epm dissectors flag nothing in the capture (pcap_check.py).
# Outside the namespace, when samba-dcerpcd answers on 127.0.0.1:135 (scripts/test starts it): the same
# python3-samba driver against Samba as a reference, and `msrpc epm ncacn_ip_tcp:127.0.0.1` listing Samba's
# endpoints (srvsvc among them). The Rust side of that (resolving srvsvc through Samba's epm and calling it)
# is crates/msrpc/tests/epm_samba.rs.
# Prints `ok`/`FAIL`/`SKIP` lines and `N passed, M failed, K skipped`; exits non-zero on any failure. Waits are bounded;
# everything started here is stopped, and the namespace deleted, on exit.
source "$(dirname "$0")/lib.sh"
interop_init epm

py=/usr/bin/python3
imp=$(impacket_python)
require "iproute2" ip
require rpcclient rpcclient
require tshark tshark
require "python3-samba (/usr/bin/python3)" "$py"
require "impacket venv python" "$imp"
ASYNC=7f6c4340-eb67-11d1-b9d7-00c04fad9a3b
SRVSVC=4b324fc8-1670-01d3-1278-5a47bf6ee188

ns="msrpc-epm-$$"
_ns_made=0
_epm_exit() {
  local rc=$?
  [ -n "$_capture_pid" ] && capture_stop >/dev/null 2>&1
  [ -n "$_server_pid" ] && _stop_pid "$_server_pid" TERM 10 >/dev/null 2>&1
  _server_pid=""
  local p
  for p in "${_pids[@]}"; do _stop_pid "$p" TERM 5 >/dev/null 2>&1; done
  _pids=()
  [ "$_ns_made" = 1 ] && ip netns del "$ns" 2>/dev/null
  (exit "$rc")
  _interop_exit
}
trap _epm_exit EXIT

if ! ip netns add "$ns" 2>"$work/netns.err"; then
  peer_missing "epm: ip netns add $ns (needs root): $(cat "$work/netns.err")"
  finish
fi
_ns_made=1
ip netns exec "$ns" ip link set lo up || { fail "lo up in $ns"; finish; }
ok "network namespace $ns with its own loopback"

msrpc_build

# wait_lines FILE N PID: up to 30 s for N "listening on" lines from PID
wait_lines() {
  local file=$1 n=$2 pid=$3 i c
  for ((i = 0; i < 300; i++)); do
    c=$(grep -c '^listening on ' "$file" 2>/dev/null)
    [ "${c:-0}" -ge "$n" ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
port_of() { sed -n "${2}p" "$1" | sed 's/.*\[\([0-9]*\)\]$/\1/'; }

# --- msrpc serve --epm on 127.0.0.1:135 in the namespace
_server_log="$work/serve.log"
ip netns exec "$ns" "$MSRPC_BIN" serve --epm --listen 'ncacn_ip_tcp:127.0.0.1[0]' --listen 'ncacn_ip_tcp:127.0.0.1[0]' \
  > "$_server_log" 2>&1 &
_server_pid=$!
if ! wait_lines "$_server_log" 3 "$_server_pid"; then
  fail "msrpc serve --epm printed three 'listening on' lines within 30 s:"
  sed 's/^/    | /' "$_server_log" | tail -20
  finish
fi
p1=$(port_of "$_server_log" 1)
p2=$(port_of "$_server_log" 2)
epm_line=$(sed -n 3p "$_server_log")
if [ "$epm_line" = "listening on ncacn_ip_tcp:127.0.0.1[135]" ]; then
  ok "msrpc serve --epm: AsyncRPC on $p1 and $p2, the endpoint mapper on 127.0.0.1:135"
else
  fail "the endpoint mapper listens on 127.0.0.1:135 ($epm_line)"
fi

capture_ok=0
_capture_err="$work/tshark.err"
ip netns exec "$ns" tshark -i lo -n -f "tcp port 135" -w "$work/epm.pcap" > /dev/null 2> "$_capture_err" &
_capture_pid=$!
for ((i = 0; i < 200; i++)); do
  grep -q "Capturing on" "$_capture_err" 2>/dev/null && { capture_ok=1; break; }
  kill -0 "$_capture_pid" 2>/dev/null || break
  sleep 0.1
done
if [ $capture_ok = 1 ]; then sleep 0.3; else fail "tshark capturing on $ns's lo within 20 s"; fi

# --- rpcclient epmlookup
out="$work/rpcclient.out"
timeout --kill-after=5 30 ip netns exec "$ns" rpcclient -U% ncacn_ip_tcp:127.0.0.1 -c epmlookup > "$out" 2>&1
rc=$?
sed 's/^/    | /' "$out" | head -20
for p in "$p1" "$p2"; do
  if grep -q "ncacn_ip_tcp:127.0.0.1\[$p,abstract_syntax=$ASYNC/0x00000001\]: AsyncRPC" "$out"; then
    ok "rpcclient epmlookup lists AsyncRPC at 127.0.0.1[$p] with its annotation"
  else
    fail "rpcclient epmlookup lists AsyncRPC at 127.0.0.1[$p]"
  fi
done
if [ $rc -eq 0 ] && grep -q "epm_Lookup no more entries" "$out" \
  && [ "$(grep -c "abstract_syntax=" "$out")" -eq 2 ]; then
  ok "rpcclient's walk (one entry a call) ends with ept_s_not_registered after exactly 2 entries"
else
  fail "rpcclient's walk ends with 'no more entries' after 2 entries (status $rc)"
fi

# --- python3-samba and impacket
run_driver -l python3-samba 60 ip netns exec "$ns" "$py" "$interop_dir/samba_epm.py" 135 --peer msrpc \
  --expect "$ASYNC=AsyncRPC"
run_driver -l impacket 60 ip netns exec "$ns" "$imp" "$interop_dir/impacket_epm.py" 135 \
  --expect "$ASYNC=1.0=$p1" --expect "$ASYNC=1.0=$p2"

# --- msrpc epm, port 135 implied
if json=$(timeout 30 ip netns exec "$ns" "$MSRPC_BIN" epm --json ncacn_ip_tcp:127.0.0.1 2>"$work/epm.err"); then
  n=$(echo "$json" | python3 -c "
import json, sys
rows = json.load(sys.stdin)
want = {'ncacn_ip_tcp:127.0.0.1[$p1]', 'ncacn_ip_tcp:127.0.0.1[$p2]'}
print(sum(1 for r in rows if r['uuid'] == '$ASYNC' and r['binding'] in want and r['annotation'] == 'AsyncRPC'))")
  if [ "$n" = 2 ]; then ok "msrpc epm ncacn_ip_tcp:127.0.0.1 lists both endpoints"; else fail "msrpc epm lists both endpoints: $json"; fi
else
  fail "msrpc epm ncacn_ip_tcp:127.0.0.1: $(cat "$work/epm.err")"
fi

# --- a second server registering with the endpoint mapper on 135 (ept_insert, then ept_delete)
reg_log="$work/serve-register.log"
ip netns exec "$ns" "$MSRPC_BIN" serve --register-with 'ncacn_ip_tcp:127.0.0.1[135]' --listen 'ncacn_ip_tcp:127.0.0.1[0]' \
  > "$reg_log" 2>&1 &
reg_pid=$!
_pids+=("$reg_pid")
if wait_lines "$reg_log" 1 "$reg_pid"; then
  p3=$(port_of "$reg_log" 1)
  listed() { timeout 30 ip netns exec "$ns" "$MSRPC_BIN" epm ncacn_ip_tcp:127.0.0.1 2>/dev/null; }
  if listed | grep -q "ncacn_ip_tcp:127.0.0.1\[$p3\]"; then
    ok "serve --register-with: its endpoint 127.0.0.1[$p3] is in the endpoint map"
  else
    fail "serve --register-with: 127.0.0.1[$p3] in the endpoint map"
  fi
  _stop_pid "$reg_pid" TERM 10
  st=$?
  if [ $st -eq 0 ] && ! listed | grep -q "ncacn_ip_tcp:127.0.0.1\[$p3\]"; then
    ok "the registering server exited 0 and its endpoint left the map (ept_delete at shutdown)"
  else
    fail "the registering server exited 0 ($st) and its endpoint left the map"
  fi
else
  fail "msrpc serve --register-with started within 30 s:"
  sed 's/^/    | /' "$reg_log" | tail -20
fi

if [ $capture_ok = 1 ]; then
  capture_stop
  # rpcclient 1 bind, python3-samba 1, impacket 4, msrpc epm 3, the registering server 2:
  # at least 8 binds; rpcclient alone makes 3 requests, python3-samba 7 and impacket 5
  pcap_check -l msrpc "$work/epm.pcap" 135 --expect bind=8 --expect bind_ack=8 --expect request=15 \
    --expect response=15
fi

_stop_pid "$_server_pid" TERM 10
st=$?
_server_pid=""
if [ $st -eq 0 ]; then ok "msrpc serve --epm exited 0 on SIGTERM"; else fail "msrpc serve --epm exited 0 on SIGTERM ($st)"; fi

# --- Samba's endpoint mapper on the host's 127.0.0.1:135
if timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/135' 2>/dev/null; then
  echo "--- samba-dcerpcd on 127.0.0.1:135"
  run_driver -l samba 60 "$py" "$interop_dir/samba_epm.py" 135 --peer samba --expect "$SRVSVC=srvsvc"
  if out=$(timeout 30 "$MSRPC_BIN" epm ncacn_ip_tcp:127.0.0.1 2>"$work/epm-samba.err"); then
    echo "$out" | sed 's/^/    | /' | head -12
    if echo "$out" | grep -q "^$SRVSVC *3.0 *ncacn_ip_tcp:127.0.0.1\[[0-9]*\] .*srvsvc (MS-SRVS)"; then
      ok "msrpc epm lists Samba's endpoints, srvsvc v3.0 on ncacn_ip_tcp among them"
    else
      fail "msrpc epm lists srvsvc among Samba's endpoints"
    fi
  else
    fail "msrpc epm ncacn_ip_tcp:127.0.0.1 against Samba: $(cat "$work/epm-samba.err")"
  fi
else
  peer_missing "the Samba part: nothing answers on 127.0.0.1:135 (scripts/peers/samba.sh start DIR)"
fi

finish
