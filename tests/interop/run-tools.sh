#!/usr/bin/env bash
# The tools over the ready-made interfaces (msrpc shares, users, groups, lookupsid; crate
# msrpc-windows; also services and reg query) against Samba's smbd over named pipes (scripts/peers/smbd.sh, MSRPC_SMBD_DIR):
# each one's --json names equal impacket's answers on the same server (impacket_tools.py:
# srvs.hNetrShareEnum, samr enumerations, lsat.hLsarLookupSids over RIDs 500..4000,
# scmr.hREnumServicesStatusW, rrp key and value enumeration of HKLM\...\CurrentVersion).
source "$(dirname "$0")/lib.sh"
interop_init tools

py=$(impacket_python)
require "impacket (python venv)" "$py"
if [ -z "${MSRPC_SMBD_DIR:-}" ] || [ ! -f "$MSRPC_SMBD_DIR/port" ]; then
  require "smbd (scripts/peers/smbd.sh, MSRPC_SMBD_DIR)" /nonexistent
fi
port=$(cat "$MSRPC_SMBD_DIR/port")
export MSRPC_TEST_PASSWORD
MSRPC_TEST_PASSWORD=$(cat "$MSRPC_SMBD_DIR/password")
msrpc_build

if ! timeout 120 "$py" "$(dirname "$0")/impacket_tools.py" "$port" > "$work/impacket.json" 2> "$work/impacket.err"; then
  fail "[impacket] reference answers: $(tail -3 "$work/impacket.err")"
  finish
fi
ok "[impacket] reference answers: $(cat "$work/impacket.json")"

regkey='HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
for tool in shares users groups lookupsid services reg; do
  args=("$tool" --json --smb-port "$port" --user msrpc ncacn_np:127.0.0.1)
  [ "$tool" = reg ] && args=(reg query --json --smb-port "$port" --user msrpc ncacn_np:127.0.0.1 "$regkey")
  if ! MSRPC_PASSWORD=$MSRPC_TEST_PASSWORD timeout 120 "$MSRPC_BIN" "${args[@]}" \
      > "$work/$tool.json" 2> "$work/$tool.err"; then
    fail "[msrpc] msrpc $tool: $(tail -3 "$work/$tool.err")"
    continue
  fi
  if python3 - "$work/impacket.json" "$work/$tool.json" "$tool" <<'PY'
import json, sys
want = json.load(open(sys.argv[1]))[sys.argv[3]]
got = sorted(o["name"] for o in json.load(open(sys.argv[2])))
if got != want:
    print(f"msrpc {got} != impacket {want}")
    sys.exit(1)
PY
  then ok "[msrpc] msrpc $tool --json names equal impacket's ($(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$work/$tool.json") entries)"
  else fail "[msrpc] msrpc $tool differs from impacket"
  fi
done
finish
