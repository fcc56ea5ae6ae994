#!/usr/bin/env bash
# Samba's raw DCE/RPC conformance suite (python3-samba's samba.tests.dcerpc.raw_protocol, 194 tests written
# and checked against Windows by Samba's team) against `msrpc serve --epm --netlogon --users FILE`.
#
# The suite connects to TCP port 135 of $SERVER, and scripts/test runs samba-dcerpcd on the host's
# 127.0.0.1:135, so msrpc serve and the suite run together in a network namespace of their own.
# raw_protocol.py runs the suite and classifies each test by what it used (see its docstring):
#   core      mgmt and epm only, with no auth, NTLM, SPNEGO-with-NTLM or anonymous logons (156 tests: the
#             issue counted 155, but test_spnego_change_auth_type1 and 2 only put auth type 16 in an alter
#             to see it refused, and need no KDC; test_spnego_multiple_auth_hdr_signing is krb5, below)
#   krb5      a Kerberos security context (the Active Directory issue), and the one test whose assertions
#             need SPNEGO to choose Kerberos (raw_protocol.py's SPNEGO_KERBEROS; 10 tests)
#   needs-np  SMB named pipes on the server side (out of scope: msrpc has no SMB server)
#   needs-if  netlogon or lsarpc over TCP (16 tests, all netlogon: msrpc serve --netlogon hosts it, with
#             a real NetrServerReqChallenge, the operation these tests send with their flags,
#             fragmentations and cancels; all 16 pass. No test needs lsarpc over TCP)
#
# Known failures are listed in raw-protocol.knownfail, one test a line with its reason, in the manner of
# Samba's selftest knownfail. This script fails on a failure that is not listed, and on a listed test that
# now passes, so the list only shrinks. raw-protocol.flapping lists tests that fail only under load (the
# suite waits 10-100 ms for "no answer" in places): each is expected to pass and is rerun once before it
# counts as failed.
#
# Prints the failures, `N passed, M failed` for every class and in all, the run time, the harness's own
# checks (tests that match the lists, tests that do not), and closes with the suite's count of tests:
# `raw suite: N passed, M failed, K skipped of T tests`. Options:
#   --update   rewrite raw-protocol.knownfail from this run: a listed test keeps its written reason, with
#              the failure it shows now in the closing parentheses (each refreshed one is named); a
#              skipped test keeps its line (the krb5 tests when no AD DC is there); a passing one goes
#   TEST ...   run only these (Class.test_name); the lists are then checked for those tests only, and
#              --update touches only their lines
# Everything started here is stopped, and the namespace deleted, on exit.
source "$(dirname "$0")/lib.sh"
interop_init raw-protocol

update=0
only=()
for a in "$@"; do
  case "$a" in
    --update) update=1;;
    *) only+=("$a");;
  esac
done

py=/usr/bin/python3
knownfail="$interop_dir/raw-protocol.knownfail"
flapping="$interop_dir/raw-protocol.flapping"
require "iproute2" ip
require "python3-samba (/usr/bin/python3)" "$py"
if ! "$py" -c 'import samba.tests.dcerpc.raw_protocol' 2>"$work/import.err"; then
  fail "python3-samba ships samba.tests.dcerpc.raw_protocol: $(tail -1 "$work/import.err")"
  finish
fi

ns="msrpc-raw-$$"
_ns_made=0
_raw_exit() {
  local rc=$?
  [ -n "$_server_pid" ] && _stop_pid "$_server_pid" TERM 10 >/dev/null 2>&1
  _server_pid=""
  [ -n "${krb5_pid:-}" ] && _stop_pid "$krb5_pid" TERM 10 >/dev/null 2>&1
  [ "$_ns_made" = 1 ] && ip netns del "$ns" 2>/dev/null
  (exit "$rc")
  _interop_exit
}
trap _raw_exit EXIT

if ! ip netns add "$ns" 2>"$work/netns.err"; then
  fail "ip netns add $ns (needs root): $(cat "$work/netns.err")"
  finish
fi
_ns_made=1
ip netns exec "$ns" ip link set lo up || { fail "lo up in $ns"; finish; }

msrpc_build

# The account the suite logs on with, and the two-line smb.conf it reads its workgroup and name from.
user=rawuser
pass='Raw-Protocol-1'
domain=MSRPCTEST
realm=MSRPCTEST.EXAMPLE
printf '%s\\%s:%s\n' "$domain" "$user" "$pass" > "$work/users"
printf '[global]\n\tworkgroup = %s\n\tnetbios name = MSRPCRAW\n' "$domain" > "$work/smb.conf"
# No KDC exists for this realm: SPNEGO must fall back to NTLM at once, not look for one in the DNS.
cat > "$work/krb5.conf" <<EOF
[libdefaults]
	default_realm = $realm
	dns_lookup_kdc = false
	dns_lookup_realm = false
[realms]
	$realm = {
		kdc = 127.0.0.1:1
	}
EOF

_server_log="$work/msrpc-serve.log"
ip netns exec "$ns" "$MSRPC_BIN" serve --listen 'ncacn_ip_tcp:127.0.0.1[0]' --epm --netlogon --users "$work/users" \
  > "$_server_log" 2>&1 &
_server_pid=$!
up=0
for ((i = 0; i < 300; i++)); do
  grep -q 'listening on ncacn_ip_tcp:127\.0\.0\.1\[135\]' "$_server_log" 2>/dev/null && { up=1; break; }
  kill -0 "$_server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ $up -ne 1 ]; then
  fail "msrpc serve --epm listened on 127.0.0.1:135 in $ns within 30 s; its output:"
  sed 's/^/    | /' "$_server_log" | tail -20
  finish
fi
ok "msrpc serve --epm --netlogon --users listening on 127.0.0.1:135 in namespace $ns"

run_suite() { # run_suite OUT [TEST ...]
  local out=$1; shift
  ip netns exec "$ns" env SERVER=127.0.0.1 USERNAME="$user" PASSWORD="$pass" DOMAIN="$domain" \
    REALM="$realm" SMB_CONF_PATH="$work/smb.conf" KRB5_CONFIG="$work/krb5.conf" \
    timeout --kill-after=10 1500 "$py" "$interop_dir/raw_protocol.py" --out "$out" "$@" \
    > "$out.log" 2>&1
}

t0=$SECONDS
run_suite "$work/results.tsv" "${only[@]}"
rc=$?
secs=$((SECONDS - t0))
if [ $rc -ne 0 ]; then
  fail "the suite ran to its end (status $rc); its last output:"
  tail -20 "$work/results.tsv.log" | sed 's/^/    | /'
fi

# listed NAME FILE: the test's line in a list (first word NAME), if any
listed() { grep -E "^$1([[:space:]]|\$)" "$2" 2>/dev/null | head -1; }

# Flapping tests that failed get one more run, alone.
rerun=()
while IFS=$'\t' read -r name result class secs_ why; do
  [ "$result" = pass ] || [ "$result" = skip ] && continue
  [ -n "$(listed "$name" "$flapping")" ] && rerun+=("$name")
done < "$work/results.tsv"
if [ ${#rerun[@]} -gt 0 ]; then
  echo "rerunning ${#rerun[@]} flapping test(s) once: ${rerun[*]}"
  run_suite "$work/rerun.tsv" "${rerun[@]}"
  # the rerun's outcome replaces the first
  awk -F'\t' 'NR == FNR { again[$1] = $0; next } ($1 in again) { print again[$1]; next } { print }' \
    "$work/rerun.tsv" "$work/results.tsv" > "$work/final.tsv"
else
  cp "$work/results.tsv" "$work/final.tsv"
fi

# The krb5 class needs a KDC: with the AD DC of scripts/peers/addc.sh (MSRPC_ADDC_DIR, as ./scripts/test
# starts it), those tests run again inside the DC's namespace against a second `msrpc serve --epm
# --keytab` (the exported keytab of host/srv1.ad.msrpc.test; its endpoint mapper on 127.0.0.2:135, srv1's
# address there, since the DC holds 127.0.0.1:135), as the domain's user alice with the DC's krb5.conf, and
# their outcome replaces the first. Without the DC they are skipped (failed under MSRPC_REQUIRE_PEERS=1).
krb5_tests=()
while IFS=$'\t' read -r name result class _; do
  [ "$class" = krb5 ] && krb5_tests+=("$name")
done < "$work/final.tsv"
if [ ${#krb5_tests[@]} -gt 0 ]; then
  addc_dir=${MSRPC_ADDC_DIR:-}
  if [ -n "$addc_dir" ] && [ -f "$addc_dir/env" ] && [ -f "$addc_dir/samba.pid" ]; then
    # shellcheck disable=SC1091
    addc_env=$(. "$addc_dir/env"; printf '%s\n' "$MSRPC_ADDC_NETNS" "$MSRPC_ADDC_KEYTAB" \
      "$MSRPC_ADDC_SERVICE_SPN" "$MSRPC_ADDC_SERVICE_HOST" "$MSRPC_ADDC_USER" "$MSRPC_ADDC_DOMAIN" \
      "$MSRPC_ADDC_REALM" "$MSRPC_ADDC_PASSWORD_FILE")
    { read -r addc_ns; read -r addc_keytab; read -r addc_spn; read -r addc_host; read -r addc_user
      read -r addc_domain; read -r addc_realm; read -r addc_pwfile; } <<< "$addc_env"
    addc_pass=$(cat "$addc_pwfile")
    printf '%s\\%s:%s\n' "$addc_domain" "$addc_user" "$addc_pass" > "$work/addc-users"
    printf '[global]\n\tworkgroup = %s\n\trealm = %s\n\tnetbios name = MSRPCRAW\n' "$addc_domain" \
      "$addc_realm" > "$work/addc-smb.conf"
    krb5_log="$work/msrpc-serve-krb5.log"
    ip netns exec "$addc_ns" "$MSRPC_BIN" serve --listen 'ncacn_ip_tcp:127.0.0.2[0]' --epm \
      --epm-address 127.0.0.2 --users "$work/addc-users" --keytab "$addc_keytab" \
      --service-principal "$addc_spn" > "$krb5_log" 2>&1 &
    krb5_pid=$!
    up=0
    for ((i = 0; i < 300; i++)); do
      grep -q 'listening on ncacn_ip_tcp:127\.0\.0\.2\[135\]' "$krb5_log" 2>/dev/null && { up=1; break; }
      kill -0 "$krb5_pid" 2>/dev/null || break
      sleep 0.1
    done
    if [ $up -eq 1 ]; then
      ok "msrpc serve --epm --keytab listening on 127.0.0.2:135 in the AD DC's namespace"
      ip netns exec "$addc_ns" env SERVER="$addc_host" USERNAME="$addc_user" PASSWORD="$addc_pass" \
        DOMAIN="$addc_domain" REALM="$addc_realm" SMB_CONF_PATH="$work/addc-smb.conf" \
        KRB5_CONFIG="$addc_dir/krb5.conf" timeout --kill-after=10 300 "$py" "$interop_dir/raw_protocol.py" \
        --out "$work/krb5.tsv" "${krb5_tests[@]}" > "$work/krb5.tsv.log" 2>&1 \
        || fail "the krb5 tests ran to their end in the AD DC's namespace; last output: $(tail -3 "$work/krb5.tsv.log")"
    else
      fail "msrpc serve --epm --keytab in the AD DC's namespace; its output: $(tail -5 "$krb5_log")"
    fi
    _stop_pid "$krb5_pid" TERM 10 >/dev/null 2>&1
    krb5_pid=""
  else
    [ "${MSRPC_REQUIRE_PEERS:-0}" = 1 ] && fail "the krb5 tests need the AD DC (MSRPC_ADDC_DIR; ./scripts/test starts it)"
    for name in "${krb5_tests[@]}"; do
      printf '%s\tskip\tkrb5\t0\tno AD DC (MSRPC_ADDC_DIR) to run it against\n' "$name"
    done > "$work/krb5.tsv"
  fi
  if [ -s "$work/krb5.tsv" ]; then
    awk -F'\t' 'NR == FNR { again[$1] = $0; next } ($1 in again) { print again[$1]; next } { print }' \
      "$work/krb5.tsv" "$work/final.tsv" > "$work/final2.tsv" && mv "$work/final2.tsv" "$work/final.tsv"
  fi
fi

# Counts per class and in all.
awk -F'\t' '
  { n[$3]++; if ($2 == "pass") p[$3]++; else if ($2 == "skip") s[$3]++; else f[$3]++;
    N++; if ($2 == "pass") P++; else if ($2 == "skip") S++; else F++ }
  END {
    split("core krb5 needs-np needs-if", order, " ")
    for (i = 1; i <= 4; i++) { c = order[i]; if (n[c])
      printf "  %-9s %3d tests: %d passed, %d failed, %d skipped\n", c, n[c], p[c], f[c], s[c] }
    printf "  all       %3d tests: %d passed, %d failed, %d skipped\n", N, P, F, S
  }' "$work/final.tsv"
echo "suite run time: ${secs}s"

# Judge each test against the lists.
unexpected_fail=0; unexpected_pass=0; expected=0
while IFS=$'\t' read -r name result class secs_ why; do
  known=$(listed "$name" "$knownfail")
  case "$result" in
    pass)
      if [ -n "$known" ]; then
        unexpected_pass=$((unexpected_pass + 1))
        fail "$name passes now: remove it from raw-protocol.knownfail"
      else
        expected=$((expected + 1))
      fi;;
    skip) expected=$((expected + 1));;
    *)
      if [ -n "$known" ]; then
        expected=$((expected + 1))
      else
        unexpected_fail=$((unexpected_fail + 1))
        fail "$name ($class) $result: $why"
      fi;;
  esac
done < "$work/final.tsv"
ran=$(wc -l < "$work/final.tsv")
# A listed test the suite no longer has is a stale line (only when the whole suite ran).
if [ ${#only[@]} -eq 0 ]; then
  while read -r name _; do
    case "$name" in ''|'#'*) continue;; esac
    # (grep on the file itself: `cut | grep -q` under pipefail fails when grep stops reading early)
    grep -qF "$name"$'\t' "$work/final.tsv" || fail "raw-protocol.knownfail lists $name, which the suite does not have"
  done < "$knownfail"
fi
[ "$ran" -gt 0 ] && ok "$ran tests ran: $expected as the lists expect, $unexpected_fail new failure(s), $unexpected_pass listed test(s) now passing"

if [ $update -eq 1 ]; then
  # A listed line is NAME<TAB>CLASS: REASON (FAILURE); FAILURE is the suite's first line and place,
  # refreshed from this run, REASON is written by hand and kept (a changed failure is named, so that its
  # reason can be checked). Tests this run did not judge (skipped, or not run: TEST ... given) keep their
  # lines.
  {
    sed -n '/^#/p' "$knownfail" 2>/dev/null
    while IFS= read -r line; do
      case "$line" in ''|'#'*) continue;; esac
      name=${line%%$'\t'*}
      row=$(grep -m1 -F "$name"$'\t' "$work/final.tsv")
      [ -z "$row" ] && { echo "$line"; continue; }
      IFS=$'\t' read -r _ result class _ why <<< "$row"
      case "$result" in
        pass) ;;
        skip) echo "$line";;
        *)
          reason=${line#*$'\t'}
          reason=${reason#*: }
          written=$(printf '%s' "$reason" | sed -E 's/ \([A-Za-z_.]*(Error|Exception|Failure|Exit)[^(]*(\(.*)?\)$//')
          new=$(printf '%s\t%s: %s (%s)' "$name" "$class" "$written" "$why")
          [ "$new" != "$line" ] && echo "refreshed: $name" >&2
          echo "$new";;
      esac
    done < "$knownfail"
    # New failures, after the listed ones.
    while IFS=$'\t' read -r name result class secs_ why; do
      [ "$result" = pass ] || [ "$result" = skip ] && continue
      [ -n "$(listed "$name" "$knownfail")" ] && continue
      echo "new: $name (give it a reason)" >&2
      printf '%s\t%s: %s\n' "$name" "$class" "$why"
    done < "$work/final.tsv"
  } > "$work/knownfail.new"
  mv "$work/knownfail.new" "$knownfail"
  echo "rewrote $knownfail"
fi

msrpc_stop
# The last line counts tests, not the harness's checks.
total=$(awk -F'\t' '{ n++; if ($2 == "pass") p++; else if ($2 == "skip") s++; else f++ }
  END { printf "raw suite: %d passed, %d failed, %d skipped of %d tests", p, f, s, n }' "$work/final.tsv")
echo "harness checks: $passed passed, $failed failed, $skipped skipped"
echo "$total"
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
exit $?
