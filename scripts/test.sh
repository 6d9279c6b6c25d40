#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing (Debian packages, Docker if it is not
# running), builds the fixture images, runs every test, and fails if any fcemu container is left behind.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_docker
# The timeline page's test drives a real browser.
apt_install chromium
# The template projects' build actions run on this machine, as Serverless Devs runs them: `go build`,
# `pip install -t` and the Java example's `javac` and `jar`.
apt_install golang-go
command -v javac >/dev/null || apt_install openjdk-17-jdk-headless
command -v pip >/dev/null || apt_install python3-pip
bash scripts/build-fixtures.sh
# HTTP triggers with authType function are called by the official SDK, as a user's client calls them.
FCEMU_SDK_PYTHON="$(bash scripts/sdk-venv.sh)"
export FCEMU_SDK_PYTHON
# The engines that are not this machine's Docker, stopped when the tests end, whatever they did: a dockerd
# and an sshd in a network namespace of their own (tests/remote_engine.rs), and Podman (tests/podman.rs).
trap 'bash scripts/remote-engine.sh down; bash scripts/podman-engine.sh down' EXIT
bash scripts/remote-engine.sh up >/dev/null
bash scripts/podman-engine.sh up >/dev/null

# fcemu's Python, Go, PHP and Node.js runtimes, tested on the interpreters they run on (the runtime images').
log "runtime tests: Python (fcemu-runtime-python:bookworm)"
docker run --rm --label fcemu.managed=true -v "$ROOT/runtimes:/runtimes:ro" -e PYTHONDONTWRITEBYTECODE=1 -w /tmp \
  fcemu-runtime-python:bookworm python3 -m unittest discover -s /runtimes/python
log "runtime tests: Go (fcemu-runtime-go:bookworm)"
docker run --rm --label fcemu.managed=true -v "$ROOT/runtimes:/runtimes:ro" -e PYTHONDONTWRITEBYTECODE=1 -w /tmp \
  fcemu-runtime-go:bookworm python3 -m unittest discover -s /runtimes/go
log "runtime tests: PHP (fcemu-runtime-php:bookworm)"
docker run --rm --label fcemu.managed=true -v "$ROOT/runtimes:/runtimes:ro" -w /tmp \
  fcemu-runtime-php:bookworm php /runtimes/php/test/bootstrap_test.php
log "runtime tests: Java (fcemu-runtime-java:bookworm)"
docker run --rm --label fcemu.managed=true -v "$ROOT/runtimes:/runtimes:ro" -w /tmp \
  fcemu-runtime-java:bookworm sh /runtimes/java/test/run.sh
log "runtime tests: Node.js (fcemu-runtime-nodejs:bookworm)"
docker run --rm --label fcemu.managed=true -v "$ROOT/runtimes:/runtimes:ro" -w /tmp \
  fcemu-runtime-nodejs:bookworm node --test /runtimes/nodejs/test/

log "timeline page tests: its data code (fcemu-runtime-nodejs:bookworm)"
docker run --rm --label fcemu.managed=true -v "$ROOT/crates/fcemu-gateway/src/ui:/ui:ro" -w /tmp \
  fcemu-runtime-nodejs:bookworm node --test /ui/model.test.js

log "cargo test (unit tests on the fake runtime, integration and end-to-end tests on Docker)"
cargo test --workspace --locked "$@"

log "the runtime contract suite on Podman"
DOCKER_HOST=unix:///run/fcemu-podman/podman.sock cargo test --locked -p fcemu-runtime --test contract

left=$(docker ps -aq --filter label=fcemu.managed=true | wc -l)
if [ "$left" -gt 0 ]; then
  docker ps -a --filter label=fcemu.managed=true >&2
  echo "FAIL: $left containers labelled fcemu.managed=true were left behind by the tests" >&2
  exit 1
fi
# A network left behind that the engine lets us remove now is one fcemu could have removed: a failure. One it
# refuses to remove though no container is on it ("has active endpoints") is Docker 20.10's lost endpoint
# count after a container killed mid-start; fcemu asked, said so, and the engine keeps it until it restarts.
left_networks=0
for network in $(docker network ls -q --filter label=fcemu.managed=true); do
  # Whose project it is and what the engine still counts on it, for whoever reads a failed run.
  docker network inspect --format '{{.Name}} {{json .Labels}} {{json .Containers}}' "$network" >&2
  if refused=$(docker network rm "$network" 2>&1); then
    left_networks=$((left_networks + 1))
  elif [ "$(docker network inspect --format '{{len .Containers}}' "$network")" = 0 ] &&
    grep -q "has active endpoints" <<<"$refused"; then
    echo "note: the engine counts endpoints on $network that no container has (a Docker bug); it stays" >&2
  else
    echo "$refused" >&2
    left_networks=$((left_networks + 1))
  fi
done
if [ "$left_networks" -gt 0 ]; then
  echo "FAIL: $left_networks networks labelled fcemu.managed=true were left behind by the tests" >&2
  exit 1
fi
podman_left=$(DOCKER_HOST=unix:///run/fcemu-podman/podman.sock docker ps -aq | wc -l)
if [ "$podman_left" -gt 0 ]; then
  echo "FAIL: $podman_left containers were left behind on Podman" >&2
  exit 1
fi
remote=$(DOCKER_HOST=unix:///run/fcemu-remote/docker.sock docker ps -aq | wc -l)
remote_networks=$(DOCKER_HOST=unix:///run/fcemu-remote/docker.sock docker network ls -q \
  --filter label=fcemu.managed=true | wc -l)
if [ "$remote" -gt 0 ] || [ "$remote_networks" -gt 0 ]; then
  echo "FAIL: $remote containers and $remote_networks networks were left behind on the remote engine" >&2
  exit 1
fi
log "no fcemu container or network left behind"
