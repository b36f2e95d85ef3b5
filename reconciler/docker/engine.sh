#!/usr/bin/env bash
# Starts a Docker engine for the docker and swarm runtimes on a machine that has dockerd but no running engine
# (CI, a development box): in a network namespace of its own, so neither Docker's bridges nor swarm's networks
# ever touch the host's; with no default bridge and no iptables rules; then makes it a single-node swarm
# manager. Instances need no network: they run with only a loopback interface and talk over unix sockets.
# Prints the DOCKER_HOST to export; progress goes to stderr. Idempotent.
set -euo pipefail

root=${BMMS_DOCKER_ROOT:-/var/lib/bmms-docker}
netns=${BMMS_DOCKER_NETNS:-bmms-docker}
export DOCKER_HOST="unix://$root/docker.sock"
say() { printf '%s\n' "$*" >&2; }

if ! docker info >/dev/null 2>&1; then
  mkdir -p "$root"
  if ! ip netns list | grep -qw "$netns"; then ip netns add "$netns"; fi
  ip netns exec "$netns" ip link set lo up
  rm -f "$root/docker.pid" "$root/docker.sock"
  say "starting dockerd in network namespace $netns (log: $root/dockerd.log)"
  # nsenter, not `ip netns exec`: the latter remounts /sys, hiding the cgroup hierarchy dockerd needs.
  nohup nsenter --net="/run/netns/$netns" dockerd \
    --host "$DOCKER_HOST" --data-root "$root/data" --exec-root "$root/exec" --pidfile "$root/docker.pid" \
    --bridge none --iptables=false --ip6tables=false >"$root/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -20 "$root/dockerd.log" >&2; say "dockerd did not start"; exit 1; }
fi

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
  say "initialising a single-node swarm"
  docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
fi
echo "$DOCKER_HOST"
