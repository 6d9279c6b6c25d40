#!/usr/bin/env bash
# A second Docker engine that is not this machine's, for the tests of a remote engine: its own dockerd and
# containerd in a network namespace of their own, with their own data root and bridge, reached from here over
# TCP (and over SSH through an sshd in the same namespace). Its containers' addresses are not routable from
# where fcemu runs, and nothing on its disk is fcemu's: what fcemu needs there travels through the Engine API.
#
#   bash scripts/remote-engine.sh up     start it (idempotent); prints the variables the tests read
#   bash scripts/remote-engine.sh down   stop it, remove the namespace, the veth and the route
#
# Every address is inside this machine's own namespaces: the namespace is 10.203.0.2, this side of the veth
# 10.203.0.1, and its containers' networks (its default bridge and the networks it makes) are in
# 10.204.0.0/15, for which this side has an unreachable route, so that nothing aimed at a container leaves
# the machine.
source "$(dirname "$0")/lib.sh"

NS=fcemu-remote
HOST_IF=fcemu-r0
NS_IF=fcemu-r1
HOST_IP=10.203.0.1
NS_IP=10.203.0.2
BRIDGE=10.204.0.1/24
POOL=10.205.0.0/16
CONTAINER_NETS=10.204.0.0/15
# The engine's state: its images are kept between runs (loading them is the slow part); everything else
# goes with `down`.
DATA=/var/lib/fcemu-remote
RUN=/run/fcemu-remote
ENV_FILE=$RUN/env

# Only the network namespace is entered: `ip netns exec` would also remount /sys, hiding the cgroup
# hierarchies the engine needs.
in_ns() { as_root nsenter --net="/run/netns/$NS" "$@"; }

# The images the remote-engine tests run there, loaded from this machine's engine when that engine lacks one.
IMAGES=(fcemu-fixture:latest fcemu-runtime-python:bookworm)

up() {
  if [ -f "$ENV_FILE" ] && DOCKER_HOST="tcp://$NS_IP:2375" docker info >/dev/null 2>&1; then
    load_images_into "unix://$RUN/docker.sock" "${IMAGES[@]}"
    cat "$ENV_FILE"
    return 0
  fi
  down quiet
  apt_install iproute2 iptables openssh-server openssh-client
  log "remote engine: namespace $NS at $NS_IP"
  as_root mkdir -p "$DATA" "$RUN"
  as_root ip netns add "$NS"
  as_root ip link add "$HOST_IF" type veth peer name "$NS_IF"
  as_root ip link set "$NS_IF" netns "$NS"
  as_root ip addr add "$HOST_IP/24" dev "$HOST_IF"
  as_root ip link set "$HOST_IF" up
  in_ns ip addr add "$NS_IP/24" dev "$NS_IF"
  in_ns ip link set "$NS_IF" up
  in_ns ip link set lo up
  in_ns ip route add default via "$HOST_IP"
  as_root ip route add unreachable "$CONTAINER_NETS"

  # Its own containerd (its own root, state and socket), so the two engines share nothing but the kernel;
  # and configuration files of its own, so nothing this machine's engine is configured with applies.
  echo 'version = 2' | as_root tee "$RUN/containerd.toml" >/dev/null
  echo '{}' | as_root tee "$RUN/daemon.json" >/dev/null
  # The storage driver this machine's engine found to work on this disk.
  local driver
  driver=$(docker info --format '{{.Driver}}')
  (in_ns containerd --config "$RUN/containerd.toml" --root "$DATA/containerd" --state "$RUN/containerd" \
    --address "$RUN/containerd.sock" >"$RUN/containerd.log" 2>&1 &)
  wait_for "containerd" test -S "$RUN/containerd.sock"
  (in_ns dockerd --config-file "$RUN/daemon.json" --data-root "$DATA/docker" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
    --containerd "$RUN/containerd.sock" --bip "$BRIDGE" --default-address-pool "base=$POOL,size=24" --storage-driver "$driver" --cgroup-parent fcemu-remote \
    -H "unix://$RUN/docker.sock" -H "tcp://$NS_IP:2375" >"$RUN/dockerd.log" 2>&1 &)
  wait_for "dockerd" env DOCKER_HOST="tcp://$NS_IP:2375" docker info

  ssh_up

  load_images_into "unix://$RUN/docker.sock" "${IMAGES[@]}"

  as_root tee "$ENV_FILE" >/dev/null <<EOF
FCEMU_REMOTE_TCP=tcp://$NS_IP:2375
FCEMU_REMOTE_SSH=ssh://root@$NS_IP:2222
FCEMU_REMOTE_SSH_CONFIG=$RUN/ssh_config
FCEMU_REMOTE_SOCKET=unix://$RUN/docker.sock
EOF
  cat "$ENV_FILE"
}

# An sshd on the namespace's address that admits one key, whose forced command is the docker CLI's own
# dial-stdio to that engine: what `ssh://` engines are reached through.
ssh_up() {
  as_root mkdir -p "$RUN/ssh"
  as_root chmod 700 "$RUN/ssh"
  as_root ssh-keygen -q -t ed25519 -N '' -f "$RUN/ssh/host_key"
  as_root ssh-keygen -q -t ed25519 -N '' -f "$RUN/ssh/client_key"
  printf 'command="DOCKER_HOST=unix://%s/docker.sock docker system dial-stdio" %s\n' \
    "$RUN" "$(as_root cat "$RUN/ssh/client_key.pub")" | as_root tee "$RUN/ssh/authorized_keys" >/dev/null
  as_root tee "$RUN/ssh/sshd_config" >/dev/null <<EOF
ListenAddress $NS_IP:2222
HostKey $RUN/ssh/host_key
AuthorizedKeysFile $RUN/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $RUN/sshd.pid
EOF
  # The client's side: the key, and this host's key as the only one known for that address.
  printf '[%s]:2222 %s\n' "$NS_IP" "$(as_root cut -d' ' -f1,2 "$RUN/ssh/host_key.pub")" |
    as_root tee "$RUN/ssh/known_hosts" >/dev/null
  as_root tee "$RUN/ssh_config" >/dev/null <<EOF
Host $NS_IP
  Port 2222
  User root
  IdentityFile $RUN/ssh/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $RUN/ssh/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
EOF
  as_root mkdir -p /run/sshd
  in_ns "$(command -v sshd || echo /usr/sbin/sshd)" -f "$RUN/ssh/sshd_config" -E "$RUN/sshd.log"
  wait_for "sshd" ssh -F "$RUN/ssh_config" "$NS_IP" true
}

wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 100); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "remote engine: $what did not come up; see $RUN/*.log" >&2
  tail -n 20 "$RUN"/*.log >&2 || true
  return 1
}

# Stops what `up` started: its containers first (through its own socket), then the daemons, the namespace,
# the veth and the route.
down() {
  if [ -S "$RUN/docker.sock" ]; then
    local left
    left=$(DOCKER_HOST="unix://$RUN/docker.sock" docker ps -aq 2>/dev/null || true)
    [ -n "$left" ] && DOCKER_HOST="unix://$RUN/docker.sock" docker rm -f $left >/dev/null 2>&1 || true
  fi
  for pidfile in "$RUN/sshd.pid" "$RUN/dockerd.pid"; do
    if [ -f "$pidfile" ]; then
      local pid
      pid=$(cat "$pidfile")
      as_root kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do as_root kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  # containerd leaves no pid file: it is the one started on this socket.
  as_root pkill -f -- "--root $DATA/containerd" 2>/dev/null || true
  for _ in $(seq 1 100); do pgrep -f -- "--root $DATA/containerd" >/dev/null || break; sleep 0.1; done
  as_root ip route del unreachable "$CONTAINER_NETS" 2>/dev/null || true
  as_root ip link del "$HOST_IF" 2>/dev/null || true
  as_root ip netns del "$NS" 2>/dev/null || true
  # The engine's mounts of its exec root go with it; what is left of the run folder is files.
  as_root rm -rf "$RUN"
  [ "${1:-}" = quiet ] || log "remote engine: stopped, namespace $NS removed"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
