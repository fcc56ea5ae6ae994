#!/usr/bin/env bash
# Kerberos against a real Active Directory domain: the Samba AD DC of scripts/peers/addc.sh, in its own
# network namespace. MIT kinit/kvno get AES tickets from its KDC for the DC and for msrpc's service account,
# the exported keytab holds that account's current keys, and python3-samba calls the DC's mgmt with
# Kerberos at connect, integrity and privacy and with SPNEGO choosing Kerberos at integrity and privacy (a
# wrong password refused): the reference run. Then
# `msrpc serve --keytab` (the exported keytab, SPN host/srv1.ad.msrpc.test) is called by the same
# python3-samba driver and by msrpc's own CLI at every level, with a password and with a keytab, and the
# CLI calls the DC's mgmt with Kerberos (also from the TGT in kinit's ccache, --ccache and $KRB5CCNAME, plain and
# SPNEGO), and impacket -k (tickets from the ccache) calls msrpc serve --keytab
# at every level. Everything runs inside the namespace.
#
# Uses the DC in MSRPC_ADDC_DIR (./scripts/test starts it); without it, starts one in the work directory and
# stops it on exit.
source "$(dirname "$0")/lib.sh"
interop_init addc

require samba /usr/sbin/samba
require winbindd /usr/sbin/winbindd
require kinit kinit
/usr/bin/python3 -c 'import samba.dcerpc.mgmt' 2>/dev/null || require "python3-samba" /nonexistent
addc="$interop_root/scripts/peers/addc.sh"

own_dc=""
if [ -n "${MSRPC_ADDC_DIR:-}" ] && [ -f "$MSRPC_ADDC_DIR/samba.pid" ]; then
  dc_dir=$MSRPC_ADDC_DIR
else
  dc_dir="$work/addc"
  own_dc=1
  trap '"$addc" stop "$dc_dir" >/dev/null 2>&1; _interop_exit' EXIT
  if "$addc" start "$dc_dir"; then ok "addc.sh start"; else fail "addc.sh start"; finish; fi
fi
in_dc() { "$addc" exec "$dc_dir" "$@"; }
# shellcheck disable=SC1091
. "$dc_dir/env"
export KRB5CCNAME="FILE:$work/ccache"

if in_dc kinit "$MSRPC_ADDC_USER" < "$MSRPC_ADDC_PASSWORD_FILE" > "$work/kinit.txt" 2>&1; then
  ok "kinit $MSRPC_ADDC_USER@$MSRPC_ADDC_REALM with its password"
else
  fail "kinit $MSRPC_ADDC_USER: $(tail -2 "$work/kinit.txt")"
fi
if in_dc kvno "$MSRPC_ADDC_DC_SPN" "$MSRPC_ADDC_SERVICE_SPN" > "$work/kvno.txt" 2>&1 \
    && in_dc klist -e > "$work/klist.txt" 2>&1; then
  for spn in "$MSRPC_ADDC_DC_SPN" "$MSRPC_ADDC_SERVICE_SPN"; do
    if grep -A1 "$spn@" "$work/klist.txt" | grep -q 'aes256-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96'; then
      ok "kvno $spn: an AES256 ticket with an AES256 session key"
    else
      fail "kvno $spn: AES256 ticket and session key; klist -e says: $(grep -A1 "$spn@" "$work/klist.txt")"
    fi
  done
else
  fail "kvno $MSRPC_ADDC_DC_SPN $MSRPC_ADDC_SERVICE_SPN: $(tail -2 "$work/kvno.txt")"
fi
printf 'Wr0ng-%s\n' "$(cat "$MSRPC_ADDC_PASSWORD_FILE")" > "$work/wrong.password"
if in_dc env KRB5CCNAME="FILE:$work/ccache.wrong" kinit "$MSRPC_ADDC_USER" < "$work/wrong.password" \
    > "$work/kinit-wrong.txt" 2>&1; then
  fail "kinit with a wrong password is refused"
elif grep -qi 'pre-authentication failed\|password incorrect' "$work/kinit-wrong.txt"; then
  ok "kinit with a wrong password is refused (pre-authentication failed)"
else
  fail "kinit with a wrong password: $(tail -2 "$work/kinit-wrong.txt")"
fi
# The keytab holds the account's current keys: a ticket the KDC issues for the SPN decrypts with it.
if klist -ke "$MSRPC_ADDC_KEYTAB" 2>/dev/null | grep -q "$MSRPC_ADDC_SERVICE_SPN@$MSRPC_ADDC_REALM (aes256-cts-hmac-sha1-96)" \
    && in_dc kvno -k "$MSRPC_ADDC_KEYTAB" "$MSRPC_ADDC_SERVICE_SPN" > "$work/kvno-keytab.txt" 2>&1 \
    && grep -q 'keytab entry valid' "$work/kvno-keytab.txt"; then
  ok "the exported keytab has $MSRPC_ADDC_SERVICE_SPN's AES256 key, and the KDC's ticket decrypts with it"
else
  fail "keytab $MSRPC_ADDC_KEYTAB: $(klist -ke "$MSRPC_ADDC_KEYTAB" 2>&1 | tail -2) $(tail -2 "$work/kvno-keytab.txt" 2>/dev/null)"
fi

echo "--- python3-samba with Kerberos to the DC's mgmt on 127.0.0.1:135 (in the namespace)"
run_driver -l dc 120 "$addc" exec "$dc_dir" /usr/bin/python3 "$interop_dir/samba_krb5.py" 135 \
  "$MSRPC_ADDC_DC_HOST" --peer dc

echo "--- msrpc serve --keytab (host/srv1) in the namespace"
msrpc_build
real_bin=$MSRPC_BIN
# msrpc_start runs "$MSRPC_BIN serve ...": run it inside the namespace (exec all the way, so the pid
# lib.sh stops is msrpc's).
printf '#!/bin/sh\nexec "%s" exec "%s" "%s" "$@"\n' "$addc" "$dc_dir" "$real_bin" > "$work/msrpc-in-ns"
chmod +x "$work/msrpc-in-ns"
MSRPC_BIN="$work/msrpc-in-ns"
# With its endpoint mapper on 127.0.0.2:135 (srv1's address in the namespace; the DC has 127.0.0.1:135).
msrpc_start --keytab "$MSRPC_ADDC_KEYTAB" --service-principal "$MSRPC_ADDC_SERVICE_SPN" --min-auth-level connect \
  --epm --epm-address 127.0.0.2
# lib.sh's capture runs `tshark -i lo`: the namespace's lo (exec, so the pid it stops is tshark's).
tshark() { exec ip netns exec "$MSRPC_ADDC_NETNS" tshark "$@"; }
captured=0
capture_start "$work/krb5.pcap" "$MSRPC_PORT" 135 && captured=1
run_driver -l msrpc 120 "$addc" exec "$dc_dir" /usr/bin/python3 "$interop_dir/samba_krb5.py" "$MSRPC_PORT" \
  "$MSRPC_ADDC_SERVICE_HOST" --peer msrpc
user="$MSRPC_ADDC_USER@$MSRPC_ADDC_REALM"
krb=(--auth-service kerberos --kdc "$MSRPC_ADDC_KDC_URL")
pw=$(cat "$MSRPC_ADDC_PASSWORD_FILE")
for level in connect packet integrity privacy; do
  if MSRPC_PASSWORD=$pw in_dc timeout 30 "$real_bin" ifids --user "$user" "${krb[@]}" \
      --server-principal "$MSRPC_ADDC_SERVICE_SPN" --auth-level "$level" \
      "ncacn_ip_tcp:127.0.0.1[$MSRPC_PORT]" > "$work/ifids-$level.txt" 2>&1 \
      && grep -q 7f6c4340-eb67-11d1-b9d7-00c04fad9a3b "$work/ifids-$level.txt"; then
    ok "msrpc ifids with Kerberos at $level to msrpc serve --keytab"
  else
    fail "msrpc ifids with Kerberos at $level to msrpc serve --keytab: $(tail -3 "$work/ifids-$level.txt")"
  fi
done
# SPNEGO choosing Kerberos (auth type 9) to the same server: its Negotiate acceptor takes the AP-REQ.
for level in connect packet integrity privacy; do
  if MSRPC_PASSWORD=$pw in_dc timeout 30 "$real_bin" ifids --user "$user" --auth-service negotiate \
      --kdc "$MSRPC_ADDC_KDC_URL" --server-principal "$MSRPC_ADDC_SERVICE_SPN" --auth-level "$level" \
      "ncacn_ip_tcp:127.0.0.1[$MSRPC_PORT]" > "$work/ifids-spnego-$level.txt" 2>&1 \
      && grep -q 7f6c4340-eb67-11d1-b9d7-00c04fad9a3b "$work/ifids-spnego-$level.txt"; then
    ok "msrpc ifids with SPNEGO choosing Kerberos at $level to msrpc serve --keytab"
  else
    fail "msrpc ifids with SPNEGO/Kerberos at $level to msrpc serve --keytab: $(tail -3 "$work/ifids-spnego-$level.txt")"
  fi
done
if in_dc timeout 30 "$real_bin" ping --user "$user" "${krb[@]}" --keytab "$MSRPC_ADDC_USER_KEYTAB" \
    --server-principal "$MSRPC_ADDC_SERVICE_SPN" --auth-level integrity \
    "ncacn_ip_tcp:127.0.0.1[$MSRPC_PORT]" > "$work/ping-keytab.txt" 2>&1; then
  ok "msrpc ping --keytab (alice's key, no password) at integrity to msrpc serve --keytab"
else
  fail "msrpc ping --keytab to msrpc serve --keytab: $(tail -3 "$work/ping-keytab.txt")"
fi
if MSRPC_PASSWORD=$pw in_dc timeout 30 "$real_bin" ping --user "$user" "${krb[@]}" \
    --server-principal "$MSRPC_ADDC_DC_SPN" --auth-level privacy "ncacn_ip_tcp:127.0.0.1[135]" \
    > "$work/ping-dc.txt" 2>&1; then
  ok "msrpc ping with Kerberos at privacy to the DC's mgmt"
else
  fail "msrpc ping with Kerberos to the DC: $(tail -3 "$work/ping-dc.txt")"
fi
if MSRPC_PASSWORD=$pw in_dc timeout 30 "$real_bin" ping --user "$user" --auth-service negotiate \
    --kdc "$MSRPC_ADDC_KDC_URL" --server-principal "$MSRPC_ADDC_DC_SPN" --auth-level integrity \
    "ncacn_ip_tcp:127.0.0.1[135]" > "$work/ping-dc-spnego.txt" 2>&1; then
  ok "msrpc ping with SPNEGO choosing Kerberos at integrity to the DC's mgmt"
else
  fail "msrpc ping with SPNEGO/Kerberos to the DC: $(tail -3 "$work/ping-dc-spnego.txt")"
fi
# A TGT from the ccache kinit filled above (no password, no keytab): --ccache FILE, and $KRB5CCNAME alone.
for level in connect packet integrity privacy; do
  for svc in kerberos negotiate; do
    if in_dc timeout 30 "$real_bin" ifids --user "$user" --auth-service $svc --kdc "$MSRPC_ADDC_KDC_URL" \
        --ccache "$work/ccache" --server-principal "$MSRPC_ADDC_SERVICE_SPN" --auth-level $level \
        "ncacn_ip_tcp:127.0.0.1[$MSRPC_PORT]" > "$work/ifids-ccache-$svc-$level.txt" 2>&1 \
        && grep -q 7f6c4340-eb67-11d1-b9d7-00c04fad9a3b "$work/ifids-ccache-$svc-$level.txt"; then
      ok "msrpc ifids --ccache ($svc) at $level to msrpc serve --keytab"
    else
      fail "msrpc ifids --ccache ($svc) at $level to msrpc serve --keytab: $(tail -3 "$work/ifids-ccache-$svc-$level.txt")"
    fi
  done
done
for svc in kerberos negotiate; do
  if in_dc env -u MSRPC_PASSWORD KRB5CCNAME="FILE:$work/ccache" timeout 30 "$real_bin" ping --user "$user" \
      --auth-service $svc --kdc "$MSRPC_ADDC_KDC_URL" --server-principal "$MSRPC_ADDC_DC_SPN" \
      --auth-level privacy "ncacn_ip_tcp:127.0.0.1[135]" > "$work/ping-dc-ccache-$svc.txt" 2>&1; then
    ok "msrpc ping ($svc, the TGT from \$KRB5CCNAME) at privacy to the DC's mgmt"
  else
    fail "msrpc ping ($svc) with \$KRB5CCNAME to the DC: $(tail -3 "$work/ping-dc-ccache-$svc.txt")"
  fi
done
# The README's lsarpc example, as written there (Kerberos for the SMB session and for RPC at privacy).
if MSRPC_PASSWORD=$pw in_dc timeout 60 "$real_bin" ifids --user alice@AD.MSRPC.TEST \
    --auth-service kerberos --kdc tcp://127.0.0.1:88 --server-principal host/dc1.ad.msrpc.test \
    'ncacn_np:dc1.ad.msrpc.test[\pipe\lsarpc]' > "$work/readme-lsarpc.txt" 2>&1 \
    && grep -q '12345778-1234-abcd-ef00-0123456789ab .*lsarpc' "$work/readme-lsarpc.txt"; then
  ok "the README's Kerberos call to the DC's \\pipe\\lsarpc lists lsarpc"
else
  fail "the README's Kerberos call to the DC's lsarpc: $(tail -3 "$work/readme-lsarpc.txt")"
fi
# rpcclient (Samba's C client, raw Kerberos, auth type 16) asks msrpc's endpoint mapper for its entries.
if command -v rpcclient > /dev/null; then
  printf '[global]\n realm = %s\n workgroup = %s\n interfaces = lo\n' "$MSRPC_ADDC_REALM" \
    "$MSRPC_ADDC_DOMAIN" > "$work/rpcclient.conf"
  for option in sign seal; do
    if in_dc timeout 30 rpcclient -s "$work/rpcclient.conf" --use-kerberos=required \
        --use-krb5-ccache="$work/ccache" "ncacn_ip_tcp:$MSRPC_ADDC_SERVICE_HOST[$option,krb5]" \
        -c epmlookup > "$work/rpcclient-$option.txt" 2>&1 \
        && grep -q "7f6c4340-eb67-11d1-b9d7-00c04fad9a3b.*AsyncRPC" "$work/rpcclient-$option.txt"; then
      ok "rpcclient --use-kerberos=required [$option,krb5]: epmlookup on msrpc serve --keytab lists AsyncRPC"
    else
      fail "rpcclient Kerberos [$option] to msrpc's epm: $(tail -3 "$work/rpcclient-$option.txt")"
    fi
  done
else
  require rpcclient rpcclient
fi
# impacket's Kerberos (-k: SPNEGO with the AP-REQ, its third leg an alter_context), from the ccache that
# kinit and kvno filled above (impacket cannot get tickets from this KDC itself: docs/auth.md). It does not
# ask for header signing, so msrpc's Kerberos tokens here cover the stub only, and the capture's check
# judges those PDUs too (impacket's alter_context, which repeats its context item, dissects clean). Not at
# the packet level: there impacket's Kerberos sends its requests unsigned, which the server refuses (access
# denied, below its minimum level), as it should.
py=$(impacket_python)
if [ -x "$py" ]; then
  run_driver -l msrpc 120 "$addc" exec "$dc_dir" env KRB5CCNAME="$work/ccache" "$py" \
    "$interop_dir/impacket_krb5.py" 127.0.0.1 "$MSRPC_PORT" --spn-host "$MSRPC_ADDC_SERVICE_HOST" \
    --user "$MSRPC_ADDC_USER" --domain "$MSRPC_ADDC_REALM" --levels connect integrity privacy
else
  peer_missing "impacket (python venv) for impacket -k ($py)"
fi
if [ $captured = 1 ]; then
  capture_stop
  # tshark dissects the Kerberos and SPNEGO tokens and finds nothing wrong with msrpc's or the DC's
  # PDUs (MIC and wrap tokens included).
  pcap_check -l msrpc "$work/krb5.pcap" "$MSRPC_PORT" --port 135 --expect bind=24 --expect auth3=9 \
    --expect request=28 --expect response=28 --expect alter_context=12
fi
# The DC's ticket (host/dc1) presented to msrpc serve by impacket: refused (after the capture, whose check
# would flag the bind_nak as a warning).
if [ -x "$py" ]; then
  run_driver -l msrpc 120 "$addc" exec "$dc_dir" env KRB5CCNAME="$work/ccache" "$py" \
    "$interop_dir/impacket_krb5.py" 127.0.0.1 "$MSRPC_PORT" --spn-host "$MSRPC_ADDC_DC_HOST" \
    --user "$MSRPC_ADDC_USER" --domain "$MSRPC_ADDC_REALM" --levels integrity --refused
fi
if grep -q "$pw" "$_server_log"; then
  fail "the server log does not contain the password"
else
  ok "the server log does not contain the password"
fi
msrpc_stop

echo "--- clock skew (faketime)"
require faketime faketime
fakelib=$(dpkg -L libfaketime 2>/dev/null | grep -m1 'libfaketimeMT\.so')
[ -n "$fakelib" ] || require "libfaketime" /nonexistent
# A server whose clock is an hour ahead refuses the authenticator (5 minutes allowed). libfaketime is
# preloaded directly (the faketime wrapper would stand between lib.sh's SIGTERM and the server).
printf '#!/bin/sh\nexec "%s" exec "%s" env LD_PRELOAD="%s" FAKETIME=+1h "%s" "$@"\n' "$addc" "$dc_dir" \
  "$fakelib" "$real_bin" > "$work/msrpc-skewed"
chmod +x "$work/msrpc-skewed"
MSRPC_BIN="$work/msrpc-skewed"
MSRPC_LOG=msrpc=debug msrpc_start --keytab "$MSRPC_ADDC_KEYTAB" --service-principal "$MSRPC_ADDC_SERVICE_SPN"
if MSRPC_PASSWORD=$pw in_dc timeout 30 "$real_bin" ping --user "$user" "${krb[@]}" \
    --server-principal "$MSRPC_ADDC_SERVICE_SPN" --auth-level integrity \
    "ncacn_ip_tcp:127.0.0.1[$MSRPC_PORT]" > "$work/ping-skew.txt" 2>&1; then
  fail "a server an hour ahead refuses the logon"
elif grep -q ERROR_ACCESS_DENIED "$work/ping-skew.txt" && grep -q "time skew is too big" "$_server_log"; then
  ok "a server an hour ahead refuses the logon (client: ERROR_ACCESS_DENIED; server log: time skew is too big)"
else
  fail "a server an hour ahead: $(tail -2 "$work/ping-skew.txt"); $(grep -i skew "$_server_log" | tail -1)"
fi
msrpc_stop
# A client an hour ahead: sspi learns the KDC's time from its KRB_AP_ERR_SKEW and corrects, as Windows
# clients do, so the call to the DC succeeds.
if MSRPC_PASSWORD=$pw in_dc faketime -f +1h timeout 30 "$real_bin" ping --user "$user" "${krb[@]}" \
    --server-principal "$MSRPC_ADDC_DC_SPN" --auth-level integrity "ncacn_ip_tcp:127.0.0.1[135]" \
    > "$work/ping-skew-client.txt" 2>&1; then
  ok "a client an hour ahead still calls the DC (the KDC's time corrects the skew)"
else
  fail "a client an hour ahead: $(tail -2 "$work/ping-skew-client.txt")"
fi

finish
