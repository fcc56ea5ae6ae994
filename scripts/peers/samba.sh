#!/usr/bin/env bash
# Starts or stops a private samba-dcerpcd on loopback for the interop tests.
#   samba.sh start DIR   writes DIR/smb.conf, adds user "msrpc" (password in DIR/password),
#                        starts samba-dcerpcd and waits until 127.0.0.1:135 answers
#   samba.sh stop DIR    stops it by its pid
# Samba's endpoint mapper must be on 127.0.0.1:135; srvsvc, lsarpc, winreg get ports from 49200.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?state directory}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf="$dir/smb.conf"

case "$cmd" in
start)
  mkdir -p "$dir"/{private,state,lock,pid,cache,ncalrpc}
  cat > "$conf" <<CONF
[global]
  workgroup = MSRPCTEST
  netbios name = PEERSRV
  server role = standalone server
  interfaces = lo
  bind interfaces only = yes
  rpc start on demand helpers = false
  passdb backend = tdbsam:$dir/private/passdb.tdb
  private dir = $dir/private
  state directory = $dir/state
  lock directory = $dir/lock
  pid directory = $dir/pid
  cache directory = $dir/cache
  ncalrpc dir = $dir/ncalrpc
  rpc server dynamic port range = 49200-49300
  disable netbios = yes
  # Samba refuses the connect authentication level by default (since the 2016 "badlock" fixes);
  # allow it so the tests can exercise every level.
  allow dcerpc auth level connect = yes
  log level = 1
CONF
  pw='Passw0rd!'
  echo "$pw" > "$dir/password"
  id msrpc >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin msrpc
  printf '%s\n%s\n' "$pw" "$pw" | smbpasswd -c "$conf" -s -a msrpc >/dev/null
  setsid /usr/libexec/samba/samba-dcerpcd -F --no-process-group --debug-stdout \
    --configfile="$conf" --libexec-rpcds > "$dir/samba.log" 2>&1 &
  echo $! > "$dir/samba.pid"
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/135) 2>/dev/null; then
      # give the helper daemons (srvsvc etc.) time to register with the epm
      for _ in $(seq 1 50); do
        grep -q "49200\|rpcd_classic" "$dir/samba.log" 2>/dev/null && break
        sleep 0.1
      done
      sleep 1
      echo "samba-dcerpcd up (pid $(cat "$dir/samba.pid"), log $dir/samba.log)"
      exit 0
    fi
    sleep 0.1
  done
  echo "samba-dcerpcd did not start; log:" >&2
  cat "$dir/samba.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/samba.pid" ]; then
    pid=$(cat "$dir/samba.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    # helper daemons run in their own process groups with --no-process-group; stop the ones of this config
    pkill -f -- "--configfile=$conf" 2>/dev/null || true
    pkill -f -- "$dir/smb.conf" 2>/dev/null || true
    rm -f "$dir/samba.pid"
  fi
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2;;
esac
