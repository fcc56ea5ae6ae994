#!/usr/bin/env bash
# Starts or stops a private Samba smbd on loopback for the named-pipe (ncacn_np) tests.
#   smbd.sh start DIR [PORT]  writes DIR/smb.conf, adds user "msrpc" (password in DIR/password),
#                             starts smbd on 127.0.0.1:PORT (a free ephemeral port when not given;
#                             the port is written to DIR/port) and waits until it answers
#   smbd.sh stop DIR          stops smbd and the samba-dcerpcd it started on demand
# smbd serves IPC$; the pipes behind it (\pipe\srvsvc, \pipe\epmapper, \pipe\lsarpc, ...) are
# answered by a samba-dcerpcd that smbd starts on demand (as --np-helper: it listens on no TCP port,
# so it does not clash with the samba-dcerpcd of samba.sh on 127.0.0.1:135).
# smbd.sh start-encrypted DIR [PORT] is the same with "smb encrypt = required" (the SMB3 encryption
# test); smbd.sh start-smb21 DIR [PORT] caps the dialect at SMB 2.1 (the SMB 2.x session key test).
set -euo pipefail
cmd=${1:?start|start-encrypted|start-smb21|stop}
dir=${2:?state directory}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf="$dir/smb.conf"

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

case "$cmd" in
start|start-encrypted|start-smb21)
  port=${3:-$(free_port)}
  extra=""
  [ "$cmd" = start-encrypted ] && extra="  smb encrypt = required"
  [ "$cmd" = start-smb21 ] && extra="  server max protocol = SMB2_10"
  mkdir -p "$dir"/{private,state,lock,pid,cache,ncalrpc,share}
  cat > "$conf" <<CONF
[global]
  workgroup = MSRPCTEST
  netbios name = NPSRV
  server role = standalone server
  interfaces = 127.0.0.1
  bind interfaces only = yes
  smb ports = $port
  server min protocol = SMB2_02
  passdb backend = tdbsam:$dir/private/passdb.tdb
  private dir = $dir/private
  state directory = $dir/state
  lock directory = $dir/lock
  pid directory = $dir/pid
  cache directory = $dir/cache
  ncalrpc dir = $dir/ncalrpc
  disable netbios = yes
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never
  # Samba refuses the connect authentication level by default; allow it so the tests can
  # exercise every level on top of the pipe.
  allow dcerpc auth level connect = yes
  log level = 1
  # One event log with records the eventlog test reads back (written below with eventlogadm).
  eventlog list = MsrpcTest
$extra

[scratch]
  path = $dir/share
  read only = no
CONF
  pw='Passw0rd!'
  echo "$pw" > "$dir/password"
  echo "$port" > "$dir/port"
  # Two records in event log MsrpcTest, newest last, for msrpc-windows' tests/eventlog_peer.rs
  # and msrpc-cli's tests/eventlog_cli.rs. Written at the current time: Samba prunes records
  # older than the log's retention (7 days) when it opens the log. Samba's access check is the
  # NT ACL its tdb's file mode maps to, so the file is made world-readable for user msrpc.
  now=$(date +%s)
  rec() { printf 'LEN: 0\nRS1: 1699505740\nRCN: 0\nTMG: %s\nTMW: %s\nEID: %s\nETP: %s\nECT: 0\nRS2: 0\nCRN: 0\nUSL: 0\nSRC: msrpc-test\nSRN: NPSRV\nSTR: %s\nSTR: %s\nDAT:\n\n' \
    "$now" "$now" "$@"; }
  rm -f "$dir/state/eventlog/msrpctest.tdb"
  if { rec 4242 WARNING "first record" "written by smbd.sh"; rec 4243 ERROR "second record" "the newest"; } |
      eventlogadm -s "$conf" -o write MsrpcTest > "$dir/eventlogadm.log" 2>&1; then
    chmod 0644 "$dir/state/eventlog/msrpctest.tdb"
  else
    echo "eventlogadm failed (the eventlog tests will fail); see $dir/eventlogadm.log" >&2
  fi
  id msrpc >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin msrpc
  printf '%s\n%s\n' "$pw" "$pw" | smbpasswd -c "$conf" -s -a msrpc >/dev/null
  setsid /usr/sbin/smbd -F --no-process-group --debug-stdout --configfile="$conf" \
    > "$dir/smbd.log" 2>&1 &
  echo $! > "$dir/smbd.pid"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "smbd up on 127.0.0.1:$port (pid $(cat "$dir/smbd.pid"), log $dir/smbd.log)"
      exit 0
    fi
    kill -0 "$(cat "$dir/smbd.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "smbd did not start; log:" >&2
  cat "$dir/smbd.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/smbd.pid" ]; then
    pid=$(cat "$dir/smbd.pid")
    # smbd was started with setsid: its process group holds it and the children it forked.
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    # The samba-dcerpcd smbd started on demand runs with this config file on its command line.
    for p in $(pgrep -f -- "$conf" || true); do kill "$p" 2>/dev/null || true; done
    rm -f "$dir/smbd.pid"
  fi
  ;;
*) echo "usage: $0 start|start-encrypted|start-smb21|stop DIR [PORT]" >&2; exit 2;;
esac
