#!/usr/bin/env bash
# The page's C code on Linux: examples/c/asyncrpc's C clients, built with `cc -Wall -Werror` from the
# stubs of `msrpc idl --lang c` and libmsrpc_c (through its pkg-config file), run against `msrpc serve`
# on loopback while tshark captures; tshark's dissector then judges the bytes.
#
# Checks, per client program (client_*.c): it builds; it exits 0; its output shows the asynchronous call
# still pending after the synchronous one (the overlap), RpcAsyncCompleteCall returning 0, and the
# refused Shutdown raised as exception 5. Then: no malformed or warning-level DCE/RPC packet in the capture,
# and the PDUs those runs must have produced. Last, misuse.c: Windows' status codes for misuse, cancels.
# Prints `ok`/`FAIL`/`SKIP` lines and `N passed, M failed, K skipped`; exits non-zero on any failure.
source "$(dirname "$0")/lib.sh"
interop_init c

require "a C compiler" cc
require pkg-config pkg-config

msrpc_build
echo "building msrpc-c (release)"
if ! (cd "$interop_root" && cargo build --release -p msrpc-c --locked -q); then
  fail "cargo build --release -p msrpc-c"
  finish
fi
[ -f "$interop_root/target/release/libmsrpc_c.so" ] && ok "libmsrpc_c.so built" || fail "libmsrpc_c.so built"
[ -f "$interop_root/target/release/libmsrpc_c.a" ] && ok "libmsrpc_c.a built" || fail "libmsrpc_c.a built"

ex="$interop_root/examples/c/asyncrpc"
gen="$work/gen"
if "$MSRPC_BIN" idl --lang c "$ex/asyncrpc.idl" --acf "$ex/asyncrpc.acf" -o "$gen"; then
  ok "msrpc idl --lang c wrote $(cd "$gen" && echo *)"
else
  fail "msrpc idl --lang c"
  finish
fi
flags=$(PKG_CONFIG_PATH="$interop_root/crates/msrpc-c" pkg-config --cflags --libs msrpc_c)

msrpc_start
have_capture=0
if command -v tshark > /dev/null && capture_start "$work/c.pcap" "$MSRPC_PORT"; then
  have_capture=1
fi
nclients=0
for src in "$ex"/client_*.c; do
  nclients=$((nclients + 1))
  name=$(basename "$src" .c)
  # shellcheck disable=SC2086
  if ! cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror -I"$gen" "$src" "$gen/asyncrpc_c.c" $flags -o "$work/$name" \
      2> "$work/$name.cc.log"; then
    fail "$name builds with cc -Wall -Werror:"
    sed 's/^/    | /' "$work/$name.cc.log" | tail -20
    continue
  fi
  ok "$name builds with cc -Wall -Werror ... -lmsrpc_c"
  timeout --kill-after=5 60 "$work/$name" "$MSRPC_PORT" 1500 > "$work/$name.out" 2>&1
  rc=$?
  [ $rc -eq 0 ] && ok "$name exits 0" || fail "$name exits 0 (status $rc)"
  for want in "still pending" "RpcAsyncCompleteCall returned 0" "Shutdown: Run time reported exception 0x5 = 5"; do
    if grep -q "$want" "$work/$name.out"; then ok "$name: $want"; else fail "$name: $want"; fi
  done
  if [ $rc -ne 0 ]; then sed 's/^/    | /' "$work/$name.out" | tail -20; fi
done
if [ $have_capture -eq 1 ]; then
  capture_stop
  # per client: one connection, AsyncFunc + NonAsyncFunc answered, Shutdown refused with 5
  pcap_check "$work/c.pcap" "$MSRPC_PORT" --expect bind=$nclients --expect request=$((3 * nclients)) \
    --expect response=$((2 * nclients)) --expect fault=$nclients --expect-fault 5
fi
# Misuse gets Windows' codes (misuse.c prints ok/FAIL lines and exits with the number of failures).
# shellcheck disable=SC2086
if cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror -I"$gen" "$ex/misuse.c" "$gen/asyncrpc_c.c" $flags -o "$work/misuse" \
    2> "$work/misuse.cc.log"; then
  run_driver -l misuse 120 "$work/misuse" "$MSRPC_PORT"
else
  fail "misuse.c builds with cc -Wall -Werror:"
  sed 's/^/    | /' "$work/misuse.cc.log" | tail -20
fi
# The static library: the same client linked with libmsrpc_c.a, no shared library at run time.
if cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror -I"$gen" -I"$interop_root/crates/msrpc-c/include" "$ex/client_event.c" \
    "$gen/asyncrpc_c.c" "$interop_root/target/release/libmsrpc_c.a" -lpthread -ldl -lm -o "$work/client_static" \
    2> "$work/client_static.cc.log"; then
  ok "client_event links with libmsrpc_c.a"
  if timeout --kill-after=5 60 "$work/client_static" "$MSRPC_PORT" 300 > "$work/client_static.out" 2>&1 \
      && grep -q "RpcAsyncCompleteCall returned 0" "$work/client_static.out"; then
    ok "statically linked client_event runs against msrpc serve"
  else
    fail "statically linked client_event runs against msrpc serve"
  fi
else
  fail "client_event links with libmsrpc_c.a:"
  sed 's/^/    | /' "$work/client_static.cc.log" | tail -20
fi
msrpc_stop

# The C server (server.c, as a Windows programmer writes one), called by impacket and by the C client.
start_c_server() { # sets C_PORT; the library prints the port it listens on
  C_LOG="$work/c-server.$1"
  MSRPC_LISTEN_ADDRESS=127.0.0.1 timeout --kill-after=5 120 "$work/server" 0 > "$C_LOG.out" 2> "$C_LOG.err" &
  C_PID=$!
  _pids+=("$C_PID")
  C_PORT=""
  for ((i = 0; i < 200; i++)); do
    C_PORT=$(grep -m1 -o 'listening on ncacn_ip_tcp:127\.0\.0\.1\[[0-9]*\]' "$C_LOG.err" 2>/dev/null | sed 's/.*\[\([0-9]*\)\]/\1/')
    [ -n "$C_PORT" ] && break
    sleep 0.1
  done
  [ -n "$C_PORT" ] && ok "C server listening on 127.0.0.1:$C_PORT" || fail "C server listening"
}
wait_c_server() { # the C server exits 0 after Shutdown
  local rc
  wait "$C_PID"
  rc=$?
  [ $rc -eq 0 ] && ok "C server exited 0 after Shutdown ($1)" || fail "C server exited 0 after Shutdown ($1): status $rc"
}
# shellcheck disable=SC2086
if cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror -pthread -I"$gen" "$ex/server.c" "$gen/asyncrpc_s.c" $flags -o "$work/server" \
    2> "$work/server.cc.log"; then
  ok "server.c builds with cc -Wall -Werror ... -lmsrpc_c"
  start_c_server impacket
  py=$(impacket_python)
  if [ -n "$C_PORT" ] && [ -x "$py" ]; then
    run_driver -l impacket 60 "$py" "$interop_dir/impacket_c_server.py" "$C_PORT"
    wait_c_server impacket
  elif [ -n "$C_PORT" ]; then
    peer_missing "impacket (python venv) for the C server"
    kill "$C_PID" 2>/dev/null
  fi
  start_c_server c
  if [ -n "$C_PORT" ]; then
    timeout --kill-after=5 60 "$work/client_event" "$C_PORT" 500 > "$work/c-to-c.out" 2>&1
    rc=$?
    [ $rc -eq 0 ] && ok "client_event against the C server exits 0" || fail "client_event against the C server (status $rc)"
    grep -q "Shutdown: accepted" "$work/c-to-c.out" && ok "C client: Shutdown accepted by the C server" \
      || fail "C client: Shutdown accepted by the C server"
    wait_c_server "C client"
  fi
else
  fail "server.c builds with cc -Wall -Werror:"
  sed 's/^/    | /' "$work/server.cc.log" | tail -20
fi
# Security from C (issue 24): auth_client.c (RpcBindingSetAuthInfo) against `msrpc serve --users FILE
# --min-auth-level integrity`; auth_server.c (RpcServerRegisterAuthInfo, a security callback) called by
# impacket with NTLM; ep_server.c (RpcServerUseProtseq, RpcEpRegister) against `msrpc serve --epm`.
fx="$interop_root/crates/msrpc-c/tests/fixtures"
printf '# accounts of the C security checks\nalice:Al1ce-pw\nCORP\\bob:b0b-pw\n' > "$work/users.txt"
# shellcheck disable=SC2086
if cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror -I"$gen" "$fx/auth_client.c" "$gen/asyncrpc_c.c" $flags \
    -o "$work/auth_client" 2> "$work/auth_client.cc.log"; then
  ok "auth_client.c builds with cc -Wall -Werror"
  msrpc_start --users "$work/users.txt" --min-auth-level integrity
  for case in "A 6 alice Al1ce-pw|call: 0" "W 5 CORP\\bob b0b-pw|call: 0" "EX 6 alice Al1ce-pw|call: 0" \
      "A 6 alice wrong|call: exception 5" "A 2 alice Al1ce-pw|call: exception 5" "NONE 0 - -|call: exception 5"; do
    args=${case%%|*}
    want=${case#*|}
    # shellcheck disable=SC2086
    timeout --kill-after=5 60 "$work/auth_client" "$MSRPC_PORT" $args > "$work/auth_client.out" 2>&1
    if grep -qx "$want" "$work/auth_client.out"; then
      ok "C client RpcBindingSetAuthInfo $args against msrpc serve: $want"
    else
      fail "C client RpcBindingSetAuthInfo $args against msrpc serve: $want"
      sed 's/^/    | /' "$work/auth_client.out" | tail -10
    fi
  done
  msrpc_stop
else
  fail "auth_client.c builds with cc -Wall -Werror:"
  sed 's/^/    | /' "$work/auth_client.cc.log" | tail -20
fi
# shellcheck disable=SC2086
if cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror -I"$gen" "$fx/auth_server.c" "$gen/asyncrpc_s.c" $flags \
    -o "$work/auth_server" 2> "$work/auth_server.cc.log"; then
  ok "auth_server.c builds with cc -Wall -Werror"
  py=$(impacket_python)
  if [ -x "$py" ]; then
    C_LOG="$work/c-auth-server"
    MSRPC_USERS_FILE="$work/users.txt" MSRPC_LISTEN_ADDRESS=127.0.0.1 timeout --kill-after=5 120 \
      "$work/auth_server" 0 callback > "$C_LOG.out" 2> "$C_LOG.err" &
    C_PID=$!
    _pids+=("$C_PID")
    C_PORT=""
    for ((i = 0; i < 200; i++)); do
      C_PORT=$(grep -m1 -o 'listening on ncacn_ip_tcp:127\.0\.0\.1\[[0-9]*\]' "$C_LOG.err" 2>/dev/null | sed 's/.*\[\([0-9]*\)\]/\1/')
      [ -n "$C_PORT" ] && break
      sleep 0.1
    done
    if [ -n "$C_PORT" ]; then
      ok "C server with security listening on 127.0.0.1:$C_PORT"
      run_driver -l impacket-auth 60 "$py" "$interop_dir/impacket_c_server_auth.py" "$C_PORT"
      wait_c_server "impacket with NTLM"
      grep -q "client alice level 6 svc 10" "$C_LOG.out" && ok "the C manager saw alice at privacy (RpcBindingInqAuthClient)" \
        || fail "the C manager saw alice at privacy (RpcBindingInqAuthClient)"
      grep -q 'callback: CORP\\bob' "$C_LOG.out" && ok "the C security callback saw CORP\\bob" \
        || fail "the C security callback saw CORP\\bob"
    else
      fail "C server with security listening"
      kill "$C_PID" 2>/dev/null
    fi
  else
    peer_missing "impacket (python venv) for the C server with security"
  fi
else
  fail "auth_server.c builds with cc -Wall -Werror:"
  sed 's/^/    | /' "$work/auth_server.cc.log" | tail -20
fi
# shellcheck disable=SC2086
if cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror -I"$gen" "$fx/ep_server.c" "$gen/asyncrpc_s.c" $flags \
    -o "$work/ep_server" 2> "$work/ep_server.cc.log"; then
  ok "ep_server.c builds with cc -Wall -Werror"
  epm_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  msrpc_start --epm --epm-port "$epm_port"
  MSRPC_EPM_PORT=$epm_port MSRPC_LISTEN_ADDRESS=127.0.0.1 timeout --kill-after=5 60 "$work/ep_server" \
    > "$work/ep_server.out" 2> "$work/ep_server.err" &
  C_PID=$!
  _pids+=("$C_PID")
  for ((i = 0; i < 200; i++)); do
    grep -q "RpcEpRegister:" "$work/ep_server.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "RpcEpRegister: 0" "$work/ep_server.out" && ok "C server RpcEpRegister with msrpc serve --epm" \
    || fail "C server RpcEpRegister with msrpc serve --epm"
  if "$MSRPC_BIN" epm "ncacn_ip_tcp:127.0.0.1[$epm_port]" > "$work/epm.out" 2>&1 \
      && grep -q "AsyncRPC sample from C" "$work/epm.out"; then
    ok "msrpc epm lists the C server's endpoint"
  else
    fail "msrpc epm lists the C server's endpoint"
    sed 's/^/    | /' "$work/epm.out" | tail -10
  fi
  # A C client with no endpoint resolves it through the endpoint mapper, then stops the server.
  MSRPC_EPM_PORT=$epm_port timeout --kill-after=5 60 "$work/client_event" "" 100 > "$work/ep-client.out" 2>&1
  grep -q "Shutdown: accepted" "$work/ep-client.out" && ok "client_event with no endpoint reaches the C server" \
    || fail "client_event with no endpoint reaches the C server"
  wait_c_server "RpcEpUnregister"
  grep -q "RpcEpUnregister: 0" "$work/ep_server.out" && ok "C server RpcEpUnregister" || fail "C server RpcEpUnregister"
  msrpc_stop
else
  fail "ep_server.c builds with cc -Wall -Werror:"
  sed 's/^/    | /' "$work/ep_server.cc.log" | tail -20
fi
# The richer IDL (examples/c/rich: structures, unions, enums, arrays, strings, pointers, context
# handles): its C server and C client built with -Wall -Werror, plainly and under AddressSanitizer,
# C against C. (crates/msrpc-c/tests/c_rich.rs also runs them against the Rust stubs and compares
# the bytes at NDR20 and NDR64.)
rich="$interop_root/examples/c/rich"
rgen="$work/rich-gen"
if "$MSRPC_BIN" idl --lang c "$rich/rich.idl" -o "$rgen"; then
  for variant in plain asan; do
    vflags=""
    [ $variant = asan ] && vflags="-fsanitize=address -fno-omit-frame-pointer"
    # shellcheck disable=SC2086
    if cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror $vflags -I"$rgen" "$rich/rich_server.c" "$rgen/rich_s.c" $flags \
        -o "$work/rich_server_$variant" 2> "$work/rich_server_$variant.cc.log" \
      && cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror $vflags -I"$rgen" "$rich/rich_client.c" "$rgen/rich_c.c" $flags \
        -o "$work/rich_client_$variant" 2> "$work/rich_client_$variant.cc.log"; then
      ok "rich_server/rich_client ($variant) build with cc -Wall -Werror"
    else
      fail "rich_server/rich_client ($variant) build:"
      sed 's/^/    | /' "$work/rich_server_$variant.cc.log" "$work/rich_client_$variant.cc.log" | tail -20
      continue
    fi
    R_LOG="$work/rich-server.$variant"
    ASAN_OPTIONS=detect_leaks=0 MSRPC_LISTEN_ADDRESS=127.0.0.1 timeout --kill-after=5 120 \
      "$work/rich_server_$variant" 0 > "$R_LOG.out" 2> "$R_LOG.err" &
    R_PID=$!
    _pids+=("$R_PID")
    R_PORT=""
    for ((i = 0; i < 200; i++)); do
      R_PORT=$(grep -m1 -o 'listening on ncacn_ip_tcp:127\.0\.0\.1\[[0-9]*\]' "$R_LOG.err" 2>/dev/null | sed 's/.*\[\([0-9]*\)\]/\1/')
      [ -n "$R_PORT" ] && break
      sleep 0.1
    done
    if [ -z "$R_PORT" ]; then
      fail "rich_server ($variant) listening"
      kill "$R_PID" 2>/dev/null
      continue
    fi
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 timeout --kill-after=5 60 "$work/rich_client_$variant" "$R_PORT" \
      > "$work/rich-client.$variant.out" 2>&1
    rc=$?
    kill "$R_PID" 2>/dev/null
    wait "$R_PID" 2>/dev/null
    if [ $rc -eq 0 ] && grep -q "^0 failures" "$work/rich-client.$variant.out"; then
      ok "rich_client against rich_server ($variant): every check passed"
    else
      fail "rich_client against rich_server ($variant) (status $rc)"
      sed 's/^/    | /' "$work/rich-client.$variant.out" | tail -20
    fi
    if grep -q Sanitizer "$work/rich-client.$variant.out" "$R_LOG.err"; then
      fail "rich ($variant): AddressSanitizer reported an error"
    elif [ $variant = asan ]; then
      ok "rich C to C under AddressSanitizer: no error, no leak in the client"
    fi
  done
else
  fail "msrpc idl --lang c examples/c/rich/rich.idl"
fi
# mgmt in C: C stubs of crates/msrpc/idl/mgmt.idl and examples/c/mgmt/mgmt_client.c (inq_if_ids,
# is_server_listening, inq_stats, inq_princ_name) against samba-dcerpcd's mgmt on 127.0.0.1:135
# (when MSRPC_SAMBA_DIR says one runs) and against msrpc serve.
mgen="$work/mgmt-gen"
# shellcheck disable=SC2086
if "$MSRPC_BIN" idl --lang c "$interop_root/crates/msrpc/idl/mgmt.idl" -o "$mgen" \
  && cc -std=c11 -D_DEFAULT_SOURCE -Wall -Werror -I"$mgen" "$interop_root/examples/c/mgmt/mgmt_client.c" \
    "$mgen/mgmt_c.c" $flags -o "$work/mgmt_client" 2> "$work/mgmt_client.cc.log"; then
  ok "mgmt_client builds with cc -Wall -Werror from the C stubs of mgmt.idl"
  if samba_reference; then
    run_driver -l samba-mgmt 60 "$work/mgmt_client" 127.0.0.1 135 samba
  else
    peer_missing "the C mgmt client against samba-dcerpcd (MSRPC_SAMBA_DIR unset; see scripts/peers/samba.sh)"
  fi
  msrpc_start
  run_driver -l msrpc-mgmt 60 "$work/mgmt_client" 127.0.0.1 "$MSRPC_PORT"
  msrpc_stop
else
  fail "mgmt_client builds from the C stubs of mgmt.idl:"
  sed 's/^/    | /' "$work/mgmt_client.cc.log" 2>/dev/null | tail -20
fi
finish
