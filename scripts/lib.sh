# Shared helpers for the scripts in this folder. Source it; do not run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs Debian packages that are missing; apt-get update runs once, only when something is missing.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Makes sure a Docker engine answers; installs and starts one when there is none.
ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  log "Docker is not reachable: installing docker.io and starting dockerd"
  apt_install docker.io
  if ! docker info >/dev/null 2>&1; then
    (as_root dockerd >/tmp/dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
    echo "dockerd did not come up; see /tmp/dockerd.log" >&2
    return 1
  fi
}

# The Debian mirror this machine's apt already uses, so debootstrap fetches from the same place.
debian_mirror() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# Loads images from this machine's engine into the engine at DOCKER_HOST=$1 (another dockerd, Podman) where
# that engine lacks them or has another build of them.
load_images_into() {
  local host=$1 image here there
  shift
  for image in "$@"; do
    here=$(docker image inspect -f '{{.Id}}' "$image")
    there=$(DOCKER_HOST="$host" docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
    if [ "${there#sha256:}" != "${here#sha256:}" ]; then
      log "loading $image into $host"
      docker save "$image" | DOCKER_HOST="$host" docker load -q >/dev/null
    fi
  done
}
