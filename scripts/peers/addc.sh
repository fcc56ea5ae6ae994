#!/usr/bin/env bash
# Starts or stops a Samba Active Directory domain controller in a network namespace of its own, for the
# Kerberos tests against a real domain.
#   addc.sh start DIR        provisions realm AD.MSRPC.TEST (domain MSRPCAD, DC dc1.ad.msrpc.test) with
#                            samba-tool, or copies the provisioned tree from the cache under target/ when the
#                            inputs (this script, Samba's version) have not changed; creates network namespace
#                            msrpc-addc-HASH with lo up and runs `samba -i` in it: KDC on 88, endpoint mapper
#                            on 135, LDAP, SMB, all on that namespace's loopback (no clash with the host's
#                            127.0.0.1:135). Writes into DIR:
#                              krb5.conf          for the realm (KDC 127.0.0.1:88 inside the namespace)
#                              alice.password     user alice (group msrpc-testers, its SID in env),
#                                                 pre-authentication on
#                              service.password   account srv1, SPN host/srv1.ad.msrpc.test, AES only
#                              service.keytab     srv1's keys, from `samba-tool domain exportkeytab`
#                              alice.keytab       alice's keys (a client logon without a password)
#                              machine.password   computer account MSRPCWS$ (a workstation trust, for
#                                                 netlogon's secure channel and Schannel)
#                              env                MSRPC_ADDC_* (realm, SPNs, namespace, paths)
#                            and waits until the KDC and the RPC services answer.
#   addc.sh exec DIR CMD...  runs CMD inside the namespace with KRB5_CONFIG and DIR/env set; the names
#                            dc1 and srv1 (short and in the realm) resolve to 127.0.0.1 and 127.0.0.2 there
#   addc.sh stop DIR         stops the DC and every process left in its namespace, deletes the namespace
# DCs started with different DIRs run side by side (seen: two at once): each has its own namespace, named from
# DIR, with its own loopback, so their ports never meet.
# Needs root (ip netns), and the samba, winbind and krb5-user packages (scripts/peers/install.sh).
set -euo pipefail
cmd=${1:?start|stop|exec}
dir=${2:?state directory}
shift 2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
root=$(cd "$(dirname "$0")/../.." && pwd)

realm=AD.MSRPC.TEST
domain=MSRPCAD
dns=ad.msrpc.test
admin_pw='Adm1n-ad-pw!'
alice_pw='Al1ce-ad-pw!'
service_pw='Srv1-ad-pw!x'
machine=MSRPCWS
machine_pw='Ws1-machine-pw!x'
service_spn=host/srv1.$dns
dc_spn=host/dc1.$dns
ns=msrpc-addc-$(printf %s "$dir" | sha256sum | cut -c1-8)

in_ns() { ip netns exec "$ns" "$@"; }

# provision CACHE: a fresh domain in CACHE/dc, its accounts, and the exported keytab.
provision() {
  local out=$1 conf
  rm -rf "$out"
  mkdir -p "$out"
  # Every path the DC writes (logs, pids, sockets) stays in its tree; no DNS server, no NetBIOS, one worker
  # per service (the machine is small).
  samba-tool domain provision --realm="$realm" --domain="$domain" --host-name=dc1 --server-role=dc \
    --dns-backend=NONE --adminpass="$admin_pw" --targetdir="$out/dc" \
    --option="interfaces=lo" --option="bind interfaces only=yes" \
    --option="disable netbios=yes" --option="prefork children=1" \
    --option="server services=s3fs rpc ldap cldap kdc winbindd" \
    --option="log file=$out/dc/log.%m" --option="pid directory=$out/dc/pid" \
    --option="ncalrpc dir=$out/dc/ncalrpc" --option="winbindd socket directory=$out/dc/winbindd" \
    --option="ntp signd socket directory=$out/dc/ntp_signd" \
    --option="allow dcerpc auth level connect=yes" > "$out/provision.log" 2>&1
  conf=$out/dc/etc/smb.conf
  samba-tool user create alice "$alice_pw" -s "$conf" >> "$out/provision.log" 2>&1
  samba-tool group add msrpc-testers -s "$conf" >> "$out/provision.log" 2>&1
  samba-tool group addmembers msrpc-testers alice -s "$conf" >> "$out/provision.log" 2>&1
  samba-tool group show msrpc-testers --attributes=objectSid -s "$conf" 2>> "$out/provision.log" \
    | sed -n 's/^objectSid: //p' > "$out/testers.sid"
  samba-tool user show alice --attributes=objectSid -s "$conf" 2>> "$out/provision.log" \
    | sed -n 's/^objectSid: //p' > "$out/alice.sid"
  # A workstation account with a known password: netlogon's secure channel (NetrServerAuthenticate3)
  # and Schannel need the machine's secret.
  samba-tool computer add "$machine" -s "$conf" >> "$out/provision.log" 2>&1
  samba-tool user setpassword "$machine\$" --newpassword="$machine_pw" -s "$conf" \
    >> "$out/provision.log" 2>&1
  samba-tool user create srv1 "$service_pw" -s "$conf" >> "$out/provision.log" 2>&1
  samba-tool spn add "$service_spn" srv1 -s "$conf" >> "$out/provision.log" 2>&1
  # AES128 and AES256 only (msDS-SupportedEncryptionTypes 0x18), as AD's hardened defaults give.
  /usr/bin/python3 - "$conf" "CN=srv1,CN=Users,DC=${dns//./,DC=}" >> "$out/provision.log" 2>&1 <<'PY'
import sys
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
db.modify_ldif(f"dn: {sys.argv[2]}\nchangetype: modify\nreplace: msDS-SupportedEncryptionTypes\n"
               "msDS-SupportedEncryptionTypes: 24\n")
PY
  samba-tool domain exportkeytab "$out/service.keytab" --principal="$service_spn" -s "$conf" \
    >> "$out/provision.log" 2>&1
  samba-tool domain exportkeytab "$out/alice.keytab" --principal=alice -s "$conf" >> "$out/provision.log" 2>&1
  echo "$out" > "$out/provisioned-at"
}

stop() {
  if [ -f "$dir/samba.pid" ]; then
    local pid
    pid=$(cat "$dir/samba.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/samba.pid"
  fi
  if ip netns list | grep -qw "$ns"; then
    # Whatever is left in the namespace was started in it by this script or by `exec`.
    local left
    left=$(ip netns pids "$ns" || true)
    [ -n "$left" ] && kill $left 2>/dev/null || true
    for _ in $(seq 1 30); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
    left=$(ip netns pids "$ns" || true)
    [ -n "$left" ] && kill -9 $left 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  fi
  rm -rf "/etc/netns/$ns"
}

case "$cmd" in
start)
  [ "$(id -u)" = 0 ] || { echo "addc.sh needs root (ip netns)" >&2; exit 1; }
  for tool in samba samba-tool; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/peers/install.sh)" >&2; exit 1; }
  done
  [ -x /usr/sbin/winbindd ] || { echo "winbindd is not installed: the DC exits without it (apt-get install winbind)" >&2; exit 1; }
  stop
  t0=$(date +%s%N)
  key=$( { cat "$script"; samba -V; } | sha256sum | cut -c1-16)
  cache=$root/target/peers/addc-cache/$key
  if [ ! -f "$cache/provisioned-at" ]; then
    echo "provisioning $realm into $cache"
    rm -rf "$root/target/peers/addc-cache"
    if ! provision "$cache.tmp"; then
      echo "provisioning failed; log:" >&2
      cat "$cache.tmp/provision.log" >&2
      exit 1
    fi
    mv "$cache.tmp" "$cache"
  fi
  rm -rf "$dir/dc"
  cp -a "$cache/dc" "$dir/dc"
  sed -i "s#$(cat "$cache/provisioned-at")/dc#$dir/dc#g" "$dir/dc/etc/smb.conf"
  cp "$cache/service.keytab" "$cache/alice.keytab" "$dir/"
  printf '%s\n' "$alice_pw" > "$dir/alice.password"
  printf '%s\n' "$service_pw" > "$dir/service.password"
  printf '%s\n' "$machine_pw" > "$dir/machine.password"
  cat > "$dir/krb5.conf" <<CONF
[libdefaults]
  default_realm = $realm
  dns_lookup_kdc = false
  dns_lookup_realm = false
  rdns = false
[realms]
  $realm = {
    kdc = 127.0.0.1:88
    admin_server = 127.0.0.1
  }
[domain_realm]
  .$dns = $realm
  $dns = $realm
CONF
  cat > "$dir/env" <<ENV
MSRPC_ADDC_DIR=$dir
MSRPC_ADDC_NETNS=$ns
MSRPC_ADDC_REALM=$realm
MSRPC_ADDC_DOMAIN=$domain
MSRPC_ADDC_KDC_URL=tcp://127.0.0.1:88
MSRPC_ADDC_DC_SPN=$dc_spn
MSRPC_ADDC_DC_HOST=dc1.$dns
MSRPC_ADDC_SERVICE_SPN=$service_spn
MSRPC_ADDC_SERVICE_HOST=srv1.$dns
MSRPC_ADDC_KEYTAB=$dir/service.keytab
MSRPC_ADDC_USER=alice
MSRPC_ADDC_PASSWORD_FILE=$dir/alice.password
MSRPC_ADDC_USER_KEYTAB=$dir/alice.keytab
MSRPC_ADDC_TESTERS_SID=$(cat "$cache/testers.sid")
MSRPC_ADDC_USER_SID=$(cat "$cache/alice.sid")
MSRPC_ADDC_MACHINE=$machine
MSRPC_ADDC_MACHINE_PASSWORD_FILE=$dir/machine.password
ENV
  # ip netns exec bind-mounts /etc/netns/NAME/hosts over /etc/hosts inside the namespace.
  mkdir -p "/etc/netns/$ns"
  # srv1 (msrpc's server) is 127.0.0.2, so that it can have an endpoint mapper on 135 too.
  printf '127.0.0.1 localhost dc1.%s dc1\n127.0.0.2 srv1.%s srv1\n::1 localhost\n' "$dns" "$dns" \
    > "/etc/netns/$ns/hosts"
  ip netns add "$ns"
  in_ns ip link set lo up
  # smbd finds winbindd (which maps the users' SIDs to uids for every SMB session) through
  # libwbclient's built-in /run/samba/winbindd, whatever `winbindd socket directory` says; without
  # it every SMB session setup to the DC fails with NT_STATUS_INTERNAL_ERROR (NTLM and Kerberos,
  # smbclient too). So the DC runs in a mount namespace of its own where this DC's socket
  # directory is bind-mounted on /run/samba/winbindd (an empty directory on the host).
  mkdir -p /run/samba/winbindd "$dir/dc/winbindd"
  setsid ip netns exec "$ns" unshare -m --propagation private sh -c \
    'mount --bind "$1/dc/winbindd" /run/samba/winbindd && exec samba -i -s "$1/dc/etc/smb.conf" --debuglevel=1' \
    sh "$dir" > "$dir/samba.log" 2>&1 &
  echo $! > "$dir/samba.pid"
  for _ in $(seq 1 300); do
    if ! kill -0 "$(cat "$dir/samba.pid")" 2>/dev/null; then
      echo "samba exited; log:" >&2
      cat "$dir/samba.log" >&2
      stop
      exit 1
    fi
    # The KDC, the endpoint mapper, LDAP and SMB all listen once the DC is ready for clients.
    if in_ns bash -c 'for p in 88 135 389 445; do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || exit 1; done'; then
      ms=$(( ($(date +%s%N) - t0) / 1000000 ))
      printf 'samba AD DC up in netns %s (realm %s, pid %s, dir %s, %d ms)\n' "$ns" "$realm" \
        "$(cat "$dir/samba.pid")" "$dir" "$ms"
      exit 0
    fi
    sleep 0.1
  done
  echo "the DC did not come up in 30 s; log:" >&2
  cat "$dir/samba.log" >&2
  stop
  exit 1
  ;;
exec)
  [ $# -gt 0 ] || { echo "usage: $0 exec DIR CMD..." >&2; exit 2; }
  [ -f "$dir/env" ] || { echo "no DC in $dir (addc.sh start $dir)" >&2; exit 1; }
  set -a
  # shellcheck disable=SC1091
  . "$dir/env"
  set +a
  export KRB5_CONFIG="$dir/krb5.conf"
  exec ip netns exec "$ns" "$@"
  ;;
stop)
  stop
  ;;
*) echo "usage: $0 start|stop|exec DIR [CMD...]" >&2; exit 2;;
esac
