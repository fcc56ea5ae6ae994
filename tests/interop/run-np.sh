#!/usr/bin/env bash
# Named pipes (ncacn_np): msrpc's client calls Samba's smbd (scripts/peers/smbd.sh, MSRPC_SMBD_DIR)
# over \pipe\srvsvc and \pipe\epmapper while tshark captures, at no RPC authentication and at NTLM
# privacy on top of the signed SMB session; impacket's SMB transport makes the same call first,
# as a reference. tshark then decodes SMB2 and the DCE/RPC PDUs inside it: nothing malformed
# or at warning level (decrypting the sealed stubs with the password too), the PDUs are there.
source "$(dirname "$0")/lib.sh"
interop_init np

require tshark tshark
py=$(impacket_python)
require "impacket (python venv)" "$py"
if [ -z "${MSRPC_SMBD_DIR:-}" ] || [ ! -f "$MSRPC_SMBD_DIR/port" ]; then
  require "smbd (scripts/peers/smbd.sh, MSRPC_SMBD_DIR)" /nonexistent
fi
port=$(cat "$MSRPC_SMBD_DIR/port")
export MSRPC_TEST_PASSWORD
MSRPC_TEST_PASSWORD=$(cat "$MSRPC_SMBD_DIR/password")
msrpc_build

echo "--- reference: impacket over the same pipes (its traffic is not judged: Samba encrypts"
echo "    impacket's SMB3 session, which offers SMB2_GLOBAL_CAP_ENCRYPTION; msrpc's is signed only)"
if timeout 60 "$py" - "$port" > "$work/impacket.txt" 2>&1 <<'PY'
import os, sys
from impacket.dcerpc.v5 import transport, mgmt
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY
port, pw = int(sys.argv[1]), os.environ["MSRPC_TEST_PASSWORD"]
for level in (None, RPC_C_AUTHN_LEVEL_PKT_PRIVACY):
    t = transport.DCERPCTransportFactory(r'ncacn_np:127.0.0.1[\pipe\srvsvc]')
    t.set_dport(port)
    t.set_credentials('msrpc', pw, '', '')
    d = t.get_dce_rpc()
    if level:
        d.set_credentials('msrpc', pw, '', '')
        d.set_auth_level(level)
    d.connect()
    d.bind(mgmt.MSRPC_UUID_MGMT)
    print(len(mgmt.hinq_if_ids(d)['if_id_vector']['if_id']), "interfaces")
PY
then ok "[impacket] mgmt inq_if_ids over \\pipe\\srvsvc, plain and sealed"
else fail "[impacket] mgmt inq_if_ids over \\pipe\\srvsvc: $(tail -3 "$work/impacket.txt")"
fi

echo "--- msrpc over \\pipe\\srvsvc and \\pipe\\epmapper"
if capture_start "$work/msrpc.pcap" "$port"; then
  for level in none privacy; do
    if MSRPC_PASSWORD=$MSRPC_TEST_PASSWORD timeout 30 "$MSRPC_BIN" ifids --smb-port "$port" \
        --user msrpc --auth-level "$level" 'ncacn_np:127.0.0.1[\pipe\srvsvc]' \
        > "$work/ifids-$level.txt" 2>&1 \
        && grep -q 4b324fc8-1670-01d3-1278-5a47bf6ee188 "$work/ifids-$level.txt"; then
      ok "[msrpc] msrpc ifids over \\pipe\\srvsvc (auth level $level) lists srvsvc"
    else
      fail "[msrpc] msrpc ifids over \\pipe\\srvsvc (auth level $level): $(tail -3 "$work/ifids-$level.txt")"
    fi
  done
  if MSRPC_PASSWORD=$MSRPC_TEST_PASSWORD timeout 30 "$MSRPC_BIN" ping --count 5 --smb-port "$port" \
      --user msrpc --auth-level integrity 'ncacn_np:127.0.0.1[\pipe\epmapper]' > "$work/ping.txt" 2>&1; then
    ok "[msrpc] msrpc ping --count 5 over \\pipe\\epmapper at integrity"
  else
    fail "[msrpc] msrpc ping over \\pipe\\epmapper: $(tail -3 "$work/ping.txt")"
  fi
  if MSRPC_PASSWORD=$MSRPC_TEST_PASSWORD timeout 30 "$MSRPC_BIN" epm --smb-port "$port" \
      --user msrpc --auth-level none ncacn_np:127.0.0.1 > "$work/epm.txt" 2>&1 \
      && grep -q 'ncacn_np:\[\\pipe\\srvsvc\]' "$work/epm.txt"; then
    ok "[msrpc] msrpc epm over \\pipe\\epmapper lists \\pipe\\srvsvc"
  else
    fail "[msrpc] msrpc epm over \\pipe\\epmapper: $(tail -3 "$work/epm.txt")"
  fi
  capture_stop
  # 8 calls: ifids twice, ping five times, one ept_lookup page (tshark lists a signed request
  # twice, so requests are counted at least, not exactly).
  pcap_check -l msrpc "$work/msrpc.pcap" "$port" --smb --expect bind=4 --expect bind_ack=4 \
    --expect auth3=2 --expect request=8 --expect response=8 --ntlm-password-env MSRPC_TEST_PASSWORD
fi
finish
