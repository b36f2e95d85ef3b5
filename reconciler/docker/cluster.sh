#!/usr/bin/env bash
# A multi-node Docker Swarm on one machine, for the swarm runtime's multi-node test and for trying the N-node
# recipe without N machines: N dockerd (default 3), each in a network namespace of its own, joined over a bridge
# in one more namespace (the "switch"), node 1 the manager, the others workers. Every address is from the
# documentation ranges: nodes at 192.0.2.1N/24 on the switch, the swarm's overlay networks carved from
# 203.0.113.0/24, each node's docker_gwbridge at 192.0.2.160/27 (inside its own namespace). Nothing touches the host's
# network: the host reaches the engines over their unix sockets only.
#
#   cluster.sh up [N]      start (idempotent); prints one DOCKER_HOST per node, manager first
#   cluster.sh down        stop every engine and remove the namespaces (the data stays under $BMMS_CLUSTER_ROOT)
#   cluster.sh host <i>    prints node i's DOCKER_HOST
#   cluster.sh stop <i>    stops node i's engine (a node lost); `up` starts it again
set -euo pipefail

root=${BMMS_CLUSTER_ROOT:-/var/lib/bmms-cluster}
prefix=${BMMS_CLUSTER_NETNS:-bmms-node}
switch=${prefix}-switch
say() { printf '%s\n' "$*" >&2; }
host_of() { echo "unix://$root/node$1/docker.sock"; }
addr_of() { echo "192.0.2.1$1"; }
d() {
  local i=$1
  shift
  DOCKER_HOST=$(host_of "$i") docker "$@"
}

netns_up() {
  ip netns list | grep -qw "$switch" || ip netns add "$switch"
  ip netns exec "$switch" ip link set lo up
  if ! ip netns exec "$switch" ip link show br0 >/dev/null 2>&1; then
    ip netns exec "$switch" ip link add br0 type bridge
    ip netns exec "$switch" ip link set br0 up
  fi
}

node_up() {
  local i=$1 ns=${prefix}$1 dir=$root/node$1
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  if ! ip netns exec "$ns" ip link show eth0 >/dev/null 2>&1; then
    # One end in the node, the other on the switch's bridge.
    ip link add "bmn$i" type veth peer name "bms$i"
    ip link set "bmn$i" netns "$ns"
    ip link set "bms$i" netns "$switch"
    ip netns exec "$ns" ip link set "bmn$i" name eth0
    ip netns exec "$ns" ip addr add "$(addr_of "$i")/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$switch" ip link set "bms$i" master br0
    ip netns exec "$switch" ip link set "bms$i" up
  fi
  if DOCKER_HOST=$(host_of "$i") docker info >/dev/null 2>&1; then return; fi
  mkdir -p "$dir"
  rm -f "$dir/docker.pid" "$dir/docker.sock"
  say "starting node $i's dockerd in network namespace $ns (log: $dir/dockerd.log)"
  # nsenter, not `ip netns exec`: the latter remounts /sys, hiding the cgroup hierarchy dockerd needs.
  nohup nsenter --net="/run/netns/$ns" dockerd \
    --host "$(host_of "$i")" --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    --bridge none --iptables=false --ip6tables=false >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    d "$i" info >/dev/null 2>&1 && break
    sleep 1
  done
  d "$i" info >/dev/null 2>&1 || {
    tail -20 "$dir/dockerd.log" >&2
    say "node $i's dockerd did not start"
    exit 1
  }
  # Swarm would make this bridge from a private range; made first, it keeps the documentation range.
  if ! d "$i" network inspect docker_gwbridge >/dev/null 2>&1; then
    d "$i" network create --subnet 192.0.2.160/27 \
      -o com.docker.network.bridge.name=docker_gwbridge \
      -o com.docker.network.bridge.enable_icc=false \
      -o com.docker.network.bridge.enable_ip_masquerade=false docker_gwbridge >/dev/null
  fi
}

state_of() { d "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo down; }

swarm_up() {
  local n=$1
  if [ "$(state_of 1)" != active ]; then
    # A state left by an earlier cluster (pending, error) is left first.
    [ "$(state_of 1)" = inactive ] || d 1 swarm leave --force >/dev/null 2>&1 || true
    say "initialising the swarm on node 1"
    d 1 swarm init --advertise-addr "$(addr_of 1)" --listen-addr "$(addr_of 1):2377" \
      --default-addr-pool 203.0.113.0/24 --default-addr-pool-mask-length 26 >/dev/null
  fi
  local token
  token=$(d 1 swarm join-token -q worker)
  for i in $(seq 2 "$n"); do
    if [ "$(state_of "$i")" != active ]; then
      [ "$(state_of "$i")" = inactive ] || d "$i" swarm leave --force >/dev/null 2>&1 || true
      say "joining node $i"
      d "$i" swarm join --token "$token" --advertise-addr "$(addr_of "$i")" --listen-addr "$(addr_of "$i"):2377" \
        "$(addr_of 1):2377" >/dev/null
    fi
  done
  # Each node labelled with its number, for placement in tests.
  for i in $(seq 1 "$n"); do
    local id
    id=$(d "$i" info --format '{{.Swarm.NodeID}}')
    d 1 node update --label-add "bmms.node=$i" "$id" >/dev/null
  done
}

case ${1:-up} in
up)
  n=${2:-3}
  mkdir -p "$root"
  netns_up
  for i in $(seq 1 "$n"); do node_up "$i"; done
  swarm_up "$n"
  for i in $(seq 1 "$n"); do host_of "$i"; done
  ;;
host) host_of "$2" ;;
stop)
  dir=$root/node$2
  if [ -f "$dir/docker.pid" ]; then
    kill "$(cat "$dir/docker.pid")" 2>/dev/null || true
    for _ in $(seq 1 30); do
      [ -e "/proc/$(cat "$dir/docker.pid" 2>/dev/null || echo 0)" ] || break
      sleep 1
    done
  fi
  ;;
down)
  for dir in "$root"/node*; do
    [ -f "$dir/docker.pid" ] || continue
    pid=$(cat "$dir/docker.pid")
    DOCKER_HOST="unix://$dir/docker.sock" docker swarm leave --force >/dev/null 2>&1 || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      [ -e "/proc/$pid" ] || break
      sleep 1
    done
  done
  for ns in $(ip netns list | awk '{print $1}' | grep "^${prefix}"); do ip netns del "$ns"; done
  ;;
*)
  say "usage: cluster.sh up [N] | down | host <i> | stop <i>"
  exit 2
  ;;
esac
