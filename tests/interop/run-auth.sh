#!/usr/bin/env bash
# NTLM interop: impacket and python3-samba log on to `msrpc serve --users FILE --min-auth-level integrity`
# and make signed ([sign], integrity) and sealed ([seal], privacy) calls, while tshark captures; a wrong
# password must be refused with access denied, and an unauthenticated call below the minimum level too.
# Then, against a server with no minimum level, impacket at connect and packet: the right password logs
# on, a wrong one is refused; impacket's and python3-samba's NTLMv1 are refused at every level. Last, impacket's anonymous
# logons: served by mgmt and the endpoint mapper, refused by the AsyncRPC sample, and by all three
# with --no-anonymous.
# tshark, given the password, then decrypts the capture: no malformed or warning-level DCE/RPC packet, the
# logons are there (bind, bind_ack, auth3), and the sealed NonAsyncFunc messages read back in clear.
#
# When MSRPC_SAMBA_DIR is set, the same drivers first run against samba-dcerpcd (user msrpc) as a reference.
# (Our client against Samba is tested by `cargo test -p msrpc --test srvsvc_samba`.)
source "$(dirname "$0")/lib.sh"
interop_init auth

require tshark tshark
py=$(impacket_python)
require "impacket (python venv)" "$py"
require "python3-samba" /usr/bin/python3
/usr/bin/python3 -c 'import samba.dcerpc.mgmt' 2>/dev/null || require "python3-samba" /nonexistent

if samba_reference; then
  echo "--- reference run: the drivers against samba-dcerpcd on 127.0.0.1:135 (user msrpc)"
  export MSRPC_TEST_PASSWORD
  MSRPC_TEST_PASSWORD=$(cat "$MSRPC_SAMBA_DIR/password")
  run_driver -l samba 120 "$py" "$interop_dir/impacket_auth.py" 135 --peer samba \
    --user msrpc --password-env MSRPC_TEST_PASSWORD
  run_driver -l samba 120 /usr/bin/python3 "$interop_dir/samba_auth.py" 135 --peer samba \
    --user msrpc --password-env MSRPC_TEST_PASSWORD
else
  peer_missing "reference run against Samba (MSRPC_SAMBA_DIR unset; see scripts/peers/samba.sh)"
fi

echo "--- msrpc serve --users FILE --min-auth-level integrity"
export MSRPC_TEST_PASSWORD='C0rrect-horse:battery'
printf '# test accounts\nalice:%s\nCORP\\bob:other-pw\n' "$MSRPC_TEST_PASSWORD" > "$work/users.txt"
msrpc_build
msrpc_start --users "$work/users.txt" --min-auth-level integrity
if capture_start "$work/msrpc.pcap" "$MSRPC_PORT"; then
  run_driver -l msrpc 180 "$py" "$interop_dir/impacket_auth.py" "$MSRPC_PORT" \
    --user 'WS\alice' --password-env MSRPC_TEST_PASSWORD
  run_driver -l msrpc 180 /usr/bin/python3 "$interop_dir/samba_auth.py" "$MSRPC_PORT" \
    --user 'WS\alice' --password-env MSRPC_TEST_PASSWORD
  # Our own client, so that tshark judges its sealed requests too.
  binding="ncacn_ip_tcp:127.0.0.1[$MSRPC_PORT]"
  for service in ntlm negotiate; do
    for level in integrity privacy; do
      out="$work/ifids-$service-$level.txt"
      if MSRPC_PASSWORD=$MSRPC_TEST_PASSWORD timeout 30 "$MSRPC_BIN" ifids --user 'WS\alice' \
          --auth-service "$service" --auth-level "$level" "$binding" > "$out" 2>&1 \
          && grep -q 7f6c4340-eb67-11d1-b9d7-00c04fad9a3b "$out"; then
        ok "[msrpc] msrpc ifids --user --auth-service $service --auth-level $level lists AsyncRPC"
      else
        fail "[msrpc] msrpc ifids --auth-service $service --auth-level $level: $(tail -3 "$out")"
      fi
    done
  done
  if MSRPC_PASSWORD=wrong timeout 30 "$MSRPC_BIN" ping --user alice "$binding" > "$work/wrong.txt" 2>&1; then
    fail "[msrpc] msrpc ping with a wrong password fails"
  elif grep -q ERROR_ACCESS_DENIED "$work/wrong.txt"; then
    ok "[msrpc] msrpc ping with a wrong password fails with ERROR_ACCESS_DENIED"
  else
    fail "[msrpc] msrpc ping with a wrong password: $(tail -3 "$work/wrong.txt")"
  fi
  capture_stop
fi
if grep -q "$MSRPC_TEST_PASSWORD" "$_server_log"; then
  fail "the server log does not contain the password"
else
  ok "the server log does not contain the password"
fi
msrpc_stop
pcap_check -l msrpc "$work/msrpc.pcap" "$MSRPC_PORT" \
  --ntlm-password-env MSRPC_TEST_PASSWORD \
  --expect bind=12 --expect bind_ack=12 --expect auth3=12 --expect request=20 --expect response=15 \
  --expect alter_context=6 --expect alter_context_resp=4 \
  --expect-fault 5 \
  --expect-decrypted "sealed hello from impacket privacy 0"

echo "--- msrpc serve --users FILE (no minimum level): impacket at connect and packet"
# impacket sends no NTLM MIC: only the server's check of the NTLMv2 response decides these logons.
msrpc_start --users "$work/users.txt"
run_driver -l msrpc-low 120 "$py" "$interop_dir/impacket_auth.py" "$MSRPC_PORT" --low-levels \
  --user 'WS\alice' --password-env MSRPC_TEST_PASSWORD
# impacket's NTLMv1 (ntlm.USE_NTLMv2 = False): refused at every level, the right password too.
run_driver -l msrpc-ntlmv1 120 "$py" "$interop_dir/impacket_auth.py" "$MSRPC_PORT" --ntlmv1 \
  --user 'WS\alice' --password-env MSRPC_TEST_PASSWORD
# python3-samba with `client ntlmv2 auth = no`: refused too, NTLM and SPNEGO.
run_driver -l msrpc-ntlmv1 120 /usr/bin/python3 "$interop_dir/samba_auth.py" "$MSRPC_PORT" --ntlmv1 \
  --user 'WS\alice' --password-env MSRPC_TEST_PASSWORD
msrpc_stop

echo "--- anonymous NTLM logons: msrpc serve --users FILE --epm, then with --no-anonymous"
# The endpoint mapper on a free port of its own (127.0.0.1:135 belongs to other tests).
epm_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
msrpc_start --users "$work/users.txt" --epm --epm-port "$epm_port"
run_driver -l msrpc-anon 120 "$py" "$interop_dir/impacket_auth.py" "$MSRPC_PORT" --anonymous \
  --epm-port "$epm_port" --user 'WS\alice' --password-env MSRPC_TEST_PASSWORD
msrpc_stop
msrpc_start --users "$work/users.txt" --epm --epm-port "$epm_port" --no-anonymous
run_driver -l msrpc-no-anon 120 "$py" "$interop_dir/impacket_auth.py" "$MSRPC_PORT" --anonymous \
  --refused --epm-port "$epm_port" --user 'WS\alice' --password-env MSRPC_TEST_PASSWORD
msrpc_stop

finish
