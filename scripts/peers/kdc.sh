#!/usr/bin/env bash
# Starts or stops a private MIT Kerberos KDC on loopback for the Kerberos tests.
#   kdc.sh start DIR   realm MSRPC.TEST in DIR on a free 127.0.0.1 port; principals alice (password in
#                      DIR/alice.password, pre-authentication required, as Active Directory does) and
#                      host/localhost (password in DIR/service.password); writes DIR/env
#                      (MSRPC_KDC_URL, MSRPC_KDC_REALM) and waits until the KDC answers
#   kdc.sh stop DIR    stops it by its pid
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?state directory}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
export KRB5_CONFIG="$dir/krb5.conf" KRB5_KDC_PROFILE="$dir/kdc.conf"
realm=MSRPC.TEST

case "$cmd" in
start)
  command -v krb5kdc >/dev/null || [ -x /usr/sbin/krb5kdc ] || { echo "krb5kdc is not installed" >&2; exit 1; }
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$KRB5_CONFIG" <<CONF
[libdefaults]
  default_realm = $realm
  dns_lookup_kdc = false
  dns_lookup_realm = false
  rdns = false
[realms]
  $realm = {
    kdc = 127.0.0.1:$port
  }
CONF
  cat > "$KRB5_KDC_PROFILE" <<CONF
[kdcdefaults]
  kdc_listen = 127.0.0.1:$port
  kdc_tcp_listen = 127.0.0.1:$port
[realms]
  $realm = {
    database_name = $dir/principal
    key_stash_file = $dir/stash
    acl_file = $dir/kadm5.acl
    max_life = 10h
    supported_enctypes = aes256-cts-hmac-sha1-96:normal
  }
CONF
  rm -f "$dir"/principal*
  echo 'Al1ce-krb-pw' > "$dir/alice.password"
  echo 'Svc-krb-pw-1' > "$dir/service.password"
  /usr/sbin/kdb5_util create -s -r "$realm" -P "master-$$-$RANDOM" > "$dir/setup.log" 2>&1
  /usr/sbin/kadmin.local -q "addprinc +requires_preauth -pw $(cat "$dir/alice.password") alice" >> "$dir/setup.log" 2>&1
  /usr/sbin/kadmin.local -q "addprinc -pw $(cat "$dir/service.password") host/localhost" >> "$dir/setup.log" 2>&1
  setsid /usr/sbin/krb5kdc -n -P "$dir/kdc.pid" > "$dir/kdc.log" 2>&1 &
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf 'MSRPC_KDC_URL=tcp://127.0.0.1:%s\nMSRPC_KDC_REALM=%s\n' "$port" "$realm" > "$dir/env"
      echo "krb5kdc up on 127.0.0.1:$port (realm $realm, dir $dir)"
      exit 0
    fi
    sleep 0.1
  done
  echo "krb5kdc did not start; log:" >&2
  cat "$dir/kdc.log" "$dir/setup.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/kdc.pid" ]; then
    pid=$(cat "$dir/kdc.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/kdc.pid"
  fi
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2;;
esac
