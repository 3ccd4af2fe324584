#!/usr/bin/env bash
# A one-node Ceph cluster with one RBD image, exported over NBD by qemu-nbd, for tests and
# for trying aheadfs on a distributed block store:
#
#   scripts/ceph-rbd.sh start STATE_DIR [--size MiB]   prints nbd://127.0.0.1:PORT/disk
#   scripts/ceph-rbd.sh stop STATE_DIR                 stops every daemon by pid, removes STATE_DIR
#
# Everything lives under STATE_DIR (its own ceph.conf, used through `-c`, never /etc/ceph):
# one monitor (mon.a) and one BlueStore OSD on a sparse 4 GiB file, pool `rbd` of size 1,
# image `rbd/disk` (1024 MiB unless --size), and `qemu-nbd` serving it through the `rbd:`
# driver of qemu-block-extra. Loopback only, free ports, no auth (cephx off), no mgr (RBD
# does not need one). About 25 s to ready and ~250 MB RSS for mon + OSD here.
#
# Debian's ceph-mon, ceph-osd, ceph-common, qemu-utils and qemu-block-extra are installed
# when missing (only here: the plain `npm test` set-up does not need them).
#
# `stop` is idempotent and also cleans up after a start that failed half-way (start runs it
# itself on failure). It only removes a directory this script made (marker file inside).
set -euo pipefail

say() { echo "ceph-rbd: $*" >&2; }
die() { say "$*"; exit 1; }

MARKER=.aheadfs-ceph-rbd
DAEMONS=(qemu-nbd ceph-osd ceph-mon) # stop order

usage() { echo "usage: $0 start STATE_DIR [--size MiB] | stop STATE_DIR" >&2; exit 2; }

# --- packages --------------------------------------------------------------------------
ensure_packages() {
  local missing=() pkg
  for pkg in ceph-mon ceph-osd ceph-common qemu-utils qemu-block-extra; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or install them)"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local try out updated=no
  for try in $(seq 1 60); do
    if out=$(apt-get install -y -qq --no-install-recommends "${missing[@]}" 2>&1); then return 0; fi
    if grep -q 'Unable to locate package\|has no installation candidate' <<<"$out" && [ $updated = no ]; then
      apt-get update -qq >/dev/null; updated=yes; continue
    fi
    if grep -q 'Could not get lock\|dpkg frontend lock\|Unable to acquire' <<<"$out"; then
      sleep 5; continue # another installer runs: wait and retry
    fi
    die "apt-get install ${missing[*]} failed: $(tail -3 <<<"$out")"
  done
  die "the dpkg lock stayed busy for 5 minutes"
}

# --- helpers ---------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Start a daemon in the foreground of its own session, in the background of ours; record its pid.
spawn_daemon() {
  local name=$1; shift
  setsid "$@" </dev/null >>"$S/log/$name.out" 2>&1 &
  echo $! >"$S/pids/$name.pid"
}

daemon_alive() {
  local name=$1 pid
  pid=$(cat "$S/pids/$name.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null
}

cephc() { timeout 60 ceph -c "$CONF" --connect-timeout 30 "$@"; }

# Wait until CMD succeeds (up to $1 seconds), failing early if daemon $2 died.
wait_for() {
  local secs=$1 daemon=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    daemon_alive "$daemon" || die "$daemon exited: $(tail -5 "$S/log/$daemon.out" 2>/dev/null)"
    [ $SECONDS -lt $end ] || die "timed out after ${secs}s waiting for: $*"
    sleep 0.5
  done
}

# --- stop ------------------------------------------------------------------------------
stop() {
  S=$1
  [ -e "$S" ] || return 0
  [ -f "$S/$MARKER" ] || die "$S was not made by this script (no $MARKER): not touching it"
  local name pid comm i
  for name in "${DAEMONS[@]}"; do
    pid=$(cat "$S/pids/$name.pid" 2>/dev/null) || continue
    # Only the process we started (its name still matches): a recycled pid is left alone.
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
    case "$comm" in "${name:0:15}"*) ;; *) continue ;; esac
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  rm -rf "$S"
}

# --- start -----------------------------------------------------------------------------
start() {
  S=$1 SIZE_MB=$2
  if [ -e "$S" ] && [ -n "$(ls -A "$S")" ]; then die "$S exists and is not empty"; fi
  ensure_packages
  mkdir -p "$S"
  S=$(cd "$S" && pwd)
  touch "$S/$MARKER"
  trap 'say "start failed: cleaning up $S"; tail -n 5 "$S"/log/*.out >&2 2>/dev/null || true; stop "$S"' EXIT
  mkdir -p "$S/pids" "$S/log" "$S/run" "$S/mon" "$S/osd"
  CONF=$S/ceph.conf

  local fsid mon2 mon1 nbd
  fsid=$(cat /proc/sys/kernel/random/uuid)
  mon2=$(free_port); mon1=$(free_port); nbd=$(free_port)
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
ms mon client mode = crc secure
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd crush update on start = false
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 4294967296
bluestore fsck on mkfs = false
osd memory target = 1073741824
run dir = $S/run
admin socket = $S/run/\$name.asok
pid file = $S/run/\$name.pid
log file = $S/log/\$name.log
crash dir = $S/crash
mon data = $S/mon/\$id
osd data = $S/osd/\$id
EOF

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]" "$S/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$S/monmap" >>"$S/log/mkfs.out" 2>&1
  spawn_daemon ceph-mon ceph-mon -c "$CONF" -f -i a
  wait_for 60 ceph-mon cephc mon stat

  local uuid id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(cephc osd new "$uuid")
  mkdir -p "$S/osd/$id"
  ceph-osd -c "$CONF" --mkfs -i "$id" --osd-uuid "$uuid" >>"$S/log/mkfs.out" 2>&1
  cephc osd crush add-bucket node host >>"$S/log/ceph.out" 2>&1
  cephc osd crush move node root=default >>"$S/log/ceph.out" 2>&1
  cephc osd crush add "osd.$id" 1.0 host=node >>"$S/log/ceph.out" 2>&1
  spawn_daemon ceph-osd ceph-osd -c "$CONF" -f -i "$id"
  wait_for 90 ceph-osd osd_up "$id"

  cephc osd pool create rbd 8 8 >>"$S/log/ceph.out" 2>&1
  cephc osd pool application enable rbd rbd >>"$S/log/ceph.out" 2>&1
  timeout 120 rbd -c "$CONF" create --size "$SIZE_MB" --image-feature layering rbd/disk >>"$S/log/ceph.out" 2>&1

  spawn_daemon qemu-nbd qemu-nbd -f raw -b 127.0.0.1 -p "$nbd" -x disk -t --shared=8 --cache=writeback "rbd:rbd/disk:conf=$CONF"
  wait_for 60 qemu-nbd listening "$nbd"
  trap - EXIT
  echo "nbd://127.0.0.1:$nbd/disk"
}

osd_up() { cephc osd dump | grep -q "^osd\.$1 up "; }
listening() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1"; }

# --- main ------------------------------------------------------------------------------
[ $# -ge 2 ] || usage
cmd=$1 dir=$2; shift 2
case "$cmd" in
  start)
    size=1024
    while [ $# -gt 0 ]; do
      case "$1" in
        --size) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || usage; size=$2; shift 2 ;;
        *) usage ;;
      esac
    done
    start "$dir" "$size" ;;
  stop) [ $# -eq 0 ] || usage; stop "$dir" ;;
  *) usage ;;
esac
