#!/usr/bin/env bash
# Installs the real peers the interop tests use, when missing: Samba (samba-dcerpcd, rpcclient,
# python3-samba, and winbind, without which the AD DC of addc.sh exits at once), tshark, an MIT Kerberos
# KDC and its tools (krb5-kdc, kadmin.local, kinit, kvno), faketime (the clock-skew checks), pkg-config (the C ABI's
# examples build through libmsrpc_c's .pc file), and a
# Python venv with impacket under target/peers/venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

need_apt=()
[ -x /usr/libexec/samba/samba-dcerpcd ] || need_apt+=(samba)
[ -x /usr/sbin/smbd ] || need_apt+=(samba)
[ -x /usr/sbin/winbindd ] || need_apt+=(winbind)
command -v rpcclient >/dev/null || need_apt+=(smbclient)
command -v smbpasswd >/dev/null || need_apt+=(samba-common-bin)
/usr/bin/python3 -c 'import samba.dcerpc.epmapper' 2>/dev/null || need_apt+=(python3-samba)
command -v tshark >/dev/null || need_apt+=(tshark)
[ -x /usr/sbin/krb5kdc ] || need_apt+=(krb5-kdc)
[ -x /usr/sbin/kadmin.local ] || need_apt+=(krb5-admin-server)
command -v kvno >/dev/null || need_apt+=(krb5-user)
command -v faketime >/dev/null || need_apt+=(faketime)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing apt packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -q >/dev/null
  apt-get install -y -q "${need_apt[@]}" >/dev/null
fi

venv="$root/target/peers/venv"
if ! "$venv/bin/python" -c 'import impacket' 2>/dev/null; then
  echo "creating impacket venv in $venv"
  rm -rf "$venv"
  mkdir -p "$root/target/peers"
  py=python3
  "$py" -m venv "$venv" 2>/dev/null || { py=/usr/bin/python3; "$py" -m venv "$venv"; }
  "$venv/bin/pip" install -q 'impacket==0.13.*'
fi
