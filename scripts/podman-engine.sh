#!/usr/bin/env bash
# Podman (Debian's package, rootful) serving its Docker-compatible API on a socket of its own, for the tests
# that run fcemu on Podman: the runtime contract suite and the lifecycle (tests/podman.rs).
#
#   bash scripts/podman-engine.sh up     start it (idempotent); prints the variables the tests read
#   bash scripts/podman-engine.sh down   stop it and remove what it ran, its route and its run folder
#
# Two settings of this machine's, in a containers.conf of its own so no other Podman use changes:
# - Podman asks for more open files and processes per container than a process without CAP_SYS_RESOURCE
#   (a CI sandbox) may grant, and every start fails with "error setting rlimit"; the defaults here are
#   this machine's hard limit of open files, and 4096 processes (fcemu's own limit per instance; Podman's
#   service lowers its own process limit, so this machine's would not do).
# - Its networks (its default one too) are made in 10.206.0.0/16, routed to unreachable here when no bridge of Podman's is up, so
#   nothing aimed at a container that is gone leaves the machine.
source "$(dirname "$0")/lib.sh"

RUN=/run/fcemu-podman
SOCKET=$RUN/podman.sock
POOL=10.206.0.0/16
ENV_FILE=$RUN/env
IMAGES=(fcemu-fixture:latest fcemu-runtime-python:bookworm)

podman_() { as_root env CONTAINERS_CONF="$RUN/containers.conf" podman "$@"; }

up() {
  if [ -f "$ENV_FILE" ] && DOCKER_HOST="unix://$SOCKET" docker version >/dev/null 2>&1; then
    load_images_into "unix://$SOCKET" "${IMAGES[@]}"
    cat "$ENV_FILE"
    return 0
  fi
  down quiet
  apt_install podman catatonit iproute2
  as_root mkdir -p "$RUN"
  as_root tee "$RUN/containers.conf" >/dev/null <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]

[network]
default_subnet = "10.206.255.0/24"
default_subnet_pools = [{"base" = "$POOL", "size" = 24}]
EOF
  as_root ip route add unreachable "$POOL" 2>/dev/null || true
  log "podman: serving the Docker API on $SOCKET"
  (podman_ system service --time=0 "unix://$SOCKET" >"$RUN/service.log" 2>&1 &)
  for _ in $(seq 1 100); do
    DOCKER_HOST="unix://$SOCKET" docker version >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! DOCKER_HOST="unix://$SOCKET" docker version >/dev/null 2>&1; then
    echo "podman's service did not come up; see $RUN/service.log" >&2
    return 1
  fi
  load_images_into "unix://$SOCKET" "${IMAGES[@]}"
  echo "FCEMU_PODMAN_SOCKET=unix://$SOCKET" | as_root tee "$ENV_FILE"
}

down() {
  if [ -S "$SOCKET" ]; then
    podman_ rm -f -a -t 0 >/dev/null 2>&1 || true
    podman_ network prune -f >/dev/null 2>&1 || true
    podman_ volume prune -f >/dev/null 2>&1 || true
  fi
  as_root pkill -f "podman system service --time=0 unix://$SOCKET" 2>/dev/null || true
  for _ in $(seq 1 100); do pgrep -f "podman system service --time=0 unix://$SOCKET" >/dev/null || break; sleep 0.1; done
  as_root ip route del unreachable "$POOL" 2>/dev/null || true
  as_root rm -rf "$RUN"
  [ "${1:-}" = quiet ] || log "podman: stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
