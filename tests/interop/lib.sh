# Shared helpers for tests/interop/run-*.sh (sourced, not run).
#
# A run script calls `interop_init NAME`, then uses:
#   ok MSG / fail MSG                  record one check (prints `ok MSG` / `FAIL MSG`)
#   skip MSG                           record a part that did not run (prints `SKIP MSG`)
#   peer_missing MSG                   a peer is missing: `fail` when MSRPC_REQUIRE_PEERS=1, else `skip`
#   run_driver [-l LABEL] SECS CMD...  run a Python driver; its `ok ...`/`FAIL ...` lines count as checks
#   require WHAT CMD|PATH              the peer must exist, else peer_missing and finish (the rest is skipped)
#   msrpc_build                        sets MSRPC_BIN (builds `cargo build --release -p msrpc-cli` if unset)
#   msrpc_start [ARGS...]              `msrpc serve --listen ncacn_ip_tcp:127.0.0.1[0] ARGS`, sets MSRPC_PORT
#   msrpc_stop                         SIGTERM, bounded wait; checks that it exits 0
#   capture_start FILE PORT...         tshark on lo restricted to the ports, waits until it captures
#   capture_stop                       SIGINT, bounded wait for tshark to flush
#   pcap_check FILE PORT ARGS...       tshark's dissector finds no DCE/RPC problem and the expected PDUs
#   samba_reference                    true when a Samba reference run should happen (see below)
#   finish                             prints `N passed, M failed, K skipped`, exits non-zero on any
#                                      failure (or when nothing passed and nothing was skipped)
# Everything started here is stopped by the EXIT trap. Waits and loops are bounded.
#
# Environment:
#   MSRPC_BIN             the msrpc binary to test (default: build target/release/msrpc)
#   MSRPC_REQUIRE_PEERS   1: a missing peer is a failure (scripts/test sets it); otherwise a skip
#   MSRPC_IMPACKET_PYTHON python with impacket (default target/peers/venv/bin/python)
#   MSRPC_SAMBA_DIR       a samba-dcerpcd started by scripts/peers/samba.sh (serves mgmt and epm on
#                         127.0.0.1:135). When set, the drivers are first run against Samba as a reference,
#                         which proves the drivers' own expectations before they judge msrpc.
#   INTEROP_KEEP          1: keep the work directory (pcaps, logs) even when everything passed

set -uo pipefail

interop_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
interop_dir="$interop_root/tests/interop"
passed=0
failed=0
skipped=0
_pids=()          # background processes to stop on exit
_server_pid=""
_server_log=""
_capture_pid=""
_capture_err=""

ok() { passed=$((passed + 1)); echo "ok $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $*"; }
peer_missing() {
  if [ "${MSRPC_REQUIRE_PEERS:-0}" = 1 ]; then fail "$* (MSRPC_REQUIRE_PEERS=1)"; else skip "$*"; fi
}

interop_init() { # interop_init NAME
  interop_name=$1
  mkdir -p "$interop_root/target/interop"
  work=$(mktemp -d "$interop_root/target/interop/$interop_name.XXXXXX")
  trap _interop_exit EXIT
  trap 'exit 130' INT TERM
  echo "interop $interop_name: work directory $work"
}

_interop_exit() {
  local rc=$?
  [ -n "$_capture_pid" ] && capture_stop >/dev/null 2>&1
  [ -n "$_server_pid" ] && _stop_pid "$_server_pid" TERM 10 >/dev/null 2>&1
  local p
  for p in "${_pids[@]}"; do _stop_pid "$p" TERM 5 >/dev/null 2>&1; done
  if [ "$rc" -eq 0 ] && [ "${INTEROP_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    echo "interop $interop_name: kept $work ($(cd "$work" 2>/dev/null && ls | head -20 | tr '\n' ' '))"
  fi
  exit "$rc"
}

# _stop_pid PID SIGNAL SECONDS: send SIGNAL, wait up to SECONDS, then SIGKILL. Returns the exit status
# when PID is our child, 0 otherwise.
_stop_pid() {
  local pid=$1 sig=$2 secs=$3 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return $?; }
  kill -"$sig" "$pid" 2>/dev/null
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "pid $pid ignored SIG$sig for ${secs}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 137
  fi
  wait "$pid" 2>/dev/null
}

finish() {
  echo "$passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
  exit $?
}

# require WHAT CMD-OR-PATH: the peer must exist; without it the script ends (a failure when peers are
# required, else the rest of the script is one skip).
require() {
  local what=$1 thing=$2
  if command -v "$thing" >/dev/null 2>&1 || [ -x "$thing" ]; then return 0; fi
  peer_missing "$interop_name: $what not found ($thing); scripts/peers/install.sh sets up peers"
  finish
}

impacket_python() {
  echo "${MSRPC_IMPACKET_PYTHON:-$interop_root/target/peers/venv/bin/python}"
}

samba_reference() {
  [ -n "${MSRPC_SAMBA_DIR:-}" ] && [ -f "$MSRPC_SAMBA_DIR/samba.pid" ]
}

# run_driver [-l LABEL] SECONDS CMD...: runs a driver with a time limit; every `ok ...`/`FAIL ...` line it
# prints is one check (shown as `ok [LABEL] ...` with a label). A driver that exits non-zero without
# printing a FAIL line (a crash, the time limit) is a failure too.
run_driver() {
  local label=""
  if [ "$1" = -l ]; then label="[$2] "; shift 2; fi
  local secs=$1; shift
  local out="$work/driver.$RANDOM.out" rc line nfail=0
  timeout --kill-after=5 "$secs" "$@" > "$out" 2>&1
  rc=$?
  while IFS= read -r line; do
    case "$line" in
      "ok "*) passed=$((passed + 1)); echo "ok $label${line#ok }";;
      "FAIL "*) failed=$((failed + 1)); nfail=$((nfail + 1)); echo "FAIL $label${line#FAIL }";;
      *) echo "$line";;
    esac
  done < "$out"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    fail "$label$(basename "$2") finished within ${secs}s (timed out; later checks did not run)"
  elif [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
    fail "$label$(basename "$2") exited with status $rc"
  fi
  return 0
}

msrpc_build() {
  if [ -n "${MSRPC_BIN:-}" ]; then
    [ -x "$MSRPC_BIN" ] || { fail "MSRPC_BIN=$MSRPC_BIN is not executable"; finish; }
    return 0
  fi
  echo "building msrpc-cli (release)"
  if ! (cd "$interop_root" && cargo build --release -p msrpc-cli --locked -q); then
    fail "cargo build --release -p msrpc-cli"
    finish
  fi
  MSRPC_BIN="$interop_root/target/release/msrpc"
  [ -x "$MSRPC_BIN" ] || { fail "no binary at $MSRPC_BIN after the build"; finish; }
}

# msrpc_start [ARGS...]: serve on an ephemeral loopback port; sets MSRPC_PORT. Fails the script when the
# server does not print `listening on ncacn_ip_tcp:127.0.0.1[PORT]` within 30 s.
msrpc_start() {
  _server_log="$work/msrpc-serve.log"
  # Emptied first: a second msrpc_start would otherwise read the previous server's port from the
  # old log before the new process's redirection truncates it.
  : > "$_server_log"
  "$MSRPC_BIN" serve --listen 'ncacn_ip_tcp:127.0.0.1[0]' "$@" > "$_server_log" 2>&1 &
  _server_pid=$!
  local i line
  MSRPC_PORT=""
  for ((i = 0; i < 300; i++)); do
    line=$(grep -m1 -o 'listening on ncacn_ip_tcp:127\.0\.0\.1\[[0-9]*\]' "$_server_log" 2>/dev/null)
    if [ -n "$line" ]; then
      MSRPC_PORT=$(echo "$line" | sed 's/.*\[\([0-9]*\)\]/\1/')
      break
    fi
    kill -0 "$_server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$MSRPC_PORT" ] || [ "$MSRPC_PORT" = 0 ]; then
    fail "msrpc serve printed 'listening on ncacn_ip_tcp:127.0.0.1[PORT]' within 30 s; its output:"
    sed 's/^/    | /' "$_server_log" | tail -40
    _stop_pid "$_server_pid" TERM 5 >/dev/null 2>&1
    _server_pid=""
    finish
  fi
  ok "msrpc serve listening on 127.0.0.1:$MSRPC_PORT (pid $_server_pid)"
}

msrpc_stop() {
  [ -n "$_server_pid" ] || return 0
  local rc
  _stop_pid "$_server_pid" TERM 10
  rc=$?
  _server_pid=""
  if [ "$rc" -eq 0 ]; then
    ok "msrpc serve exited 0 on SIGTERM"
  else
    fail "msrpc serve exited 0 on SIGTERM (status $rc); last lines of its output:"
    sed 's/^/    | /' "$_server_log" | tail -20
  fi
}

# capture_start FILE PORT...: a tshark capture on lo restricted to those TCP ports. Returns once tshark
# reports that it is capturing (bounded: 20 s), so the first SYN is not missed.
capture_start() {
  local file=$1; shift
  local filter="" p i
  for p in "$@"; do filter="${filter:+$filter or }tcp port $p"; done
  _capture_err="$work/tshark.$(basename "$file").err"
  tshark -i lo -n -f "$filter" -w "$file" > /dev/null 2> "$_capture_err" &
  _capture_pid=$!
  for ((i = 0; i < 200; i++)); do
    grep -q "Capturing on" "$_capture_err" 2>/dev/null && break
    kill -0 "$_capture_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q "Capturing on" "$_capture_err" 2>/dev/null; then
    fail "tshark started capturing on lo ($filter) within 20 s:"
    sed 's/^/    | /' "$_capture_err" | tail -10
    _stop_pid "$_capture_pid" INT 5 >/dev/null 2>&1
    _capture_pid=""
    return 1
  fi
  # dumpcap reports before the first packet can have gone by; a short margin costs nothing
  sleep 0.3
  return 0
}

capture_stop() {
  [ -n "$_capture_pid" ] || return 0
  # let the last FIN/ACKs reach the capture before stopping it
  sleep 0.5
  _stop_pid "$_capture_pid" INT 15
  _capture_pid=""
}

# pcap_check [-l LABEL] FILE PORT [pcap_check.py ARGS...]
pcap_check() {
  local label=()
  if [ "$1" = -l ]; then label=(-l "$2"); shift 2; fi
  local file=$1 port=$2; shift 2
  if [ ! -s "$file" ]; then
    fail "capture $file exists and is not empty"
    return 0
  fi
  run_driver "${label[@]}" 300 python3 "$interop_dir/pcap_check.py" "$file" --port "$port" "$@"
}
