#!/usr/bin/env bash
# Kerberos against a real Active Directory domain: the Samba AD DC of scripts/peers/addc.sh, in its own
# network namespace. MIT kinit/kvno get AES tickets from its KDC for the DC and for msrpc's service account,
# the exported keytab holds that account's current keys, and python3-samba calls the DC's mgmt with
# Kerberos at connect, integrity and privacy (a wrong password refused). Everything runs inside the namespace.
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

finish
