#!/bin/sh
# A private Docker daemon for the chaos suite on a machine that has none
# running (needs root and the docker.io package: dockerd, containerd, runc).
#
#   eval "$(chaos/docker/dockerd.sh start [DIR])"   start one; exports DOCKER_HOST=unix://DIR/docker.sock
#   chaos/docker/dockerd.sh stop [DIR]              stop it (by the PID in DIR) and undo what it changed;
#                                                   without DIR: the one DOCKER_HOST names
#
# Everything lives in DIR (default: a new /tmp/pgherd-dockerd.XXXXXX):
# images, containers, the socket, the daemon's log and PID, and the state
# of the machine before the start. `stop` acts only on a directory `start`
# made (it carries a marker file), and removes it at the end.
#
# Docker changes the machine's firewall: it adds chains (DOCKER,
# DOCKER-USER, DOCKER-ISOLATION-*...) and rules jumping to them, turns IP
# forwarding on and sets the FORWARD policy to DROP (which silently breaks
# bridges others made). `stop` removes those chains and every rule naming
# them or a Docker bridge, the tables Docker brought into being (when they
# are empty again), its bridges, and puts IP forwarding and the FORWARD
# policy back as they were.
#
# The daemon runs without the default bridge (--bridge=none: no docker0)
# and without IPv6 rules; the chaos backend makes its own network.
set -eu

MARKER=.pgherd-dockerd

usage() {
  echo "usage: $0 start [DIR] | stop [DIR]" >&2
  exit 2
}

[ "$(id -u)" = 0 ] || { echo "$0: must run as root (dockerd manages the network and mounts)" >&2; exit 1; }

start() {
  dir=${1:-}
  if [ -z "$dir" ]; then dir=$(mktemp -d /tmp/pgherd-dockerd.XXXXXX); else mkdir -p "$dir"; fi
  dir=$(cd "$dir" && pwd)
  command -v dockerd >/dev/null || { echo "$0: dockerd not found (Debian: apt-get install -y docker.io)" >&2; exit 1; }
  if [ -f "$dir/dockerd.pid.launched" ] && kill -0 "$(cat "$dir/dockerd.pid.launched")" 2>/dev/null; then
    echo "$0: a daemon already runs for $dir (pid $(cat "$dir/dockerd.pid.launched"))" >&2
    exit 1
  fi
  [ -z "$(ls -A "$dir")" ] || [ -f "$dir/$MARKER" ] || { echo "$0: $dir is not empty and not a directory of this script" >&2; exit 1; }
  echo "pgherd private dockerd: 'dockerd.sh stop' removes this directory" >"$dir/$MARKER"
  # The state to put back on stop.
  iptables -S FORWARD | sed -n 's/^-P FORWARD //p' >"$dir/forward-policy.before"
  cat /proc/sys/net/ipv4/ip_forward >"$dir/ip-forward.before"
  ip -o link show | sed -n 's/^[0-9]*: \([^:@]*\).*/\1/p' >"$dir/links.before"
  if command -v nft >/dev/null; then nft list tables >"$dir/nft-tables.before" 2>/dev/null || true; fi

  mkdir -p "$dir/data" "$dir/exec"
  # setsid: the daemon outlives this script and a Ctrl-C of its caller.
  setsid dockerd \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    --pidfile "$dir/dockerd.pid" \
    -H "unix://$dir/docker.sock" \
    --iptables=true --ip6tables=false \
    --bridge=none \
    --userland-proxy=false \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  echo $! >"$dir/dockerd.pid.launched"
  i=0
  until DOCKER_HOST="unix://$dir/docker.sock" docker info >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$(cat "$dir/dockerd.pid.launched")" 2>/dev/null; then
      echo "$0: dockerd did not come up; its log ($dir/dockerd.log) ends:" >&2
      tail -20 "$dir/dockerd.log" >&2
      stop "$dir" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  echo "export DOCKER_HOST=unix://$dir/docker.sock"
}

# Delete, in one iptables binary and table, every rule outside Docker's
# chains that jumps to one of them or names a Docker bridge, then Docker's
# chains themselves.
clean_table() {
  bin=$1
  table=$2
  command -v "$bin" >/dev/null || return 0
  "$bin" -t "$table" -S >/dev/null 2>&1 || return 0
  "$bin" -t "$table" -S | grep '^-A ' | while IFS= read -r rule; do
    chain=$(echo "$rule" | cut -d' ' -f2)
    case $chain in DOCKER*) continue ;; esac
    if echo "$rule" | grep -Eq -- '-j DOCKER|-g DOCKER|[io] docker0|[io] br-[0-9a-f]{12}'; then
      # -S prints the rule quoted as a command line: eval re-reads the quoting of comments.
      eval "\"\$bin\" -t \"\$table\" -D ${rule#-A }" || echo "could not delete ($bin -t $table): $rule" >&2
    fi
  done
  chains=$("$bin" -t "$table" -S | sed -n 's/^-N \(DOCKER[^ ]*\)$/\1/p')
  for c in $chains; do "$bin" -t "$table" -F "$c"; done
  for c in $chains; do "$bin" -t "$table" -X "$c" || echo "could not delete chain $c ($bin -t $table)" >&2; done
}

stop() {
  dir=${1:-}
  if [ -z "$dir" ]; then
    case ${DOCKER_HOST:-} in
      unix://*/docker.sock) dir=$(dirname "${DOCKER_HOST#unix://}") ;;
      *) echo "$0 stop: no DIR given and DOCKER_HOST (${DOCKER_HOST:-unset}) names no daemon of this script" >&2; exit 2 ;;
    esac
  fi
  [ -d "$dir" ] || { echo "$0 stop: no directory $dir" >&2; exit 1; }
  dir=$(cd "$dir" && pwd)
  # Only a directory `start` made: this removes it.
  [ -f "$dir/$MARKER" ] || { echo "$0 stop: $dir was not made by '$0 start' (no $MARKER): refusing" >&2; exit 1; }
  pid=$(cat "$dir/dockerd.pid.launched" 2>/dev/null || true)
  children=
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    # The containerd the daemon started: it should end with the daemon; ended by its PID if not.
    children=$(pgrep -P "$pid" 2>/dev/null || true)
    # Containers still running: remove them through the daemon first.
    DOCKER_HOST="unix://$dir/docker.sock" docker ps -q 2>/dev/null | xargs -r env DOCKER_HOST="unix://$dir/docker.sock" docker rm -f >/dev/null 2>&1 || true
    DOCKER_HOST="unix://$dir/docker.sock" docker network prune -f >/dev/null 2>&1 || true
    kill -TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null; do
      i=$((i + 1))
      if [ $i -eq 300 ]; then
        echo "dockerd $pid still running after 30 s: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
      sleep 0.1
    done
  fi
  for p in $children; do kill -TERM "$p" 2>/dev/null || true; done

  for table in filter nat mangle raw; do
    clean_table iptables "$table"
    clean_table ip6tables "$table"
  done
  # Tables Docker brought into being (with iptables-nft: e.g. `ip nat`), now empty: gone again.
  if [ -f "$dir/nft-tables.before" ] && command -v nft >/dev/null; then
    nft list tables 2>/dev/null | while read -r _ family name; do
      grep -qx "table $family $name" "$dir/nft-tables.before" && continue
      rules=$(nft list table "$family" "$name" 2>/dev/null | awk 'NF > 0 && $1 != "table" && $1 != "chain" && $1 != "type" && $1 != "}"' | wc -l)
      [ "$rules" -eq 0 ] && { nft delete table "$family" "$name" 2>/dev/null || true; }
    done
  fi
  if [ -f "$dir/forward-policy.before" ]; then
    iptables -P FORWARD "$(cat "$dir/forward-policy.before")"
  fi
  if [ -f "$dir/ip-forward.before" ]; then
    cat "$dir/ip-forward.before" >/proc/sys/net/ipv4/ip_forward
  fi
  # Bridges and veths Docker made that are still there (docker0 if it made one, br-<id>, veth*).
  if [ -f "$dir/links.before" ]; then
    for link in $(ip -o link show | sed -n 's/^[0-9]*: \([^:@]*\).*/\1/p'); do
      case $link in docker0 | br-* | veth*) ;; *) continue ;; esac
      grep -qx "$link" "$dir/links.before" || ip link del "$link" 2>/dev/null || true
    done
  fi
  # Mounts a killed daemon left (overlays, netns bind mounts), then the directory.
  grep -o " $dir/[^ ]*" /proc/mounts | sort -r | while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
  rm -rf "$dir"
  echo "stopped the daemon of $dir and undid its iptables changes"
}

case ${1:-} in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) usage ;;
esac
