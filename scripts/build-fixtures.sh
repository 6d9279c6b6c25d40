#!/usr/bin/env bash
# Builds every image the tests and the examples use. Safe to run again: what is up to date is kept.
#   fcemu-fixture:latest        the fixture function (static Rust binary + busybox, FROM scratch)
#   fcemu-debian-flask:bookworm a minimal Debian with python3-flask (debootstrap, docker import)
#   fcemu-debian-gpu:bookworm   the same with curl and jq, for the GPU example's Initializer
#   fcemu-runtime-{python,nodejs,go,php,custom}:bookworm  the runtimes' interpreters (build-runtime-images.sh)
# The example project's own image (fixtures/example) is built by `fcemu up` itself, from x-fcemu-build.
# Pass --no-flask to build only the fixture function.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_docker
apt_install busybox-static

log "building the fixture function (static)"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release -p fcemu-fixture --target x86_64-unknown-linux-gnu
context=$(mktemp -d /tmp/fcemu-fixture-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp fixtures/function/Dockerfile "$context/"
cp /bin/busybox "$context/busybox"
cp target/x86_64-unknown-linux-gnu/release/fcemu-fixture "$context/"
docker build --quiet -t fcemu-fixture:latest "$context" >/dev/null
log "image fcemu-fixture:latest is ready"

if [ "${1:-}" != "--no-flask" ]; then
  bash "$ROOT/scripts/build-debian-image.sh" fcemu-debian-flask:bookworm python3-flask
  bash "$ROOT/scripts/build-debian-image.sh" fcemu-debian-gpu:bookworm python3-flask,curl,jq
  bash "$ROOT/scripts/build-runtime-images.sh"
fi
