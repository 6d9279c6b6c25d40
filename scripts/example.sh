#!/usr/bin/env bash
# Serves the example project (fixtures/example: a Flask web function with an Initializer and a PreStop hook)
# with `fcemu up`, from a fresh machine. Extra arguments go to `fcemu up` (e.g. --listen 127.0.0.1:9001).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_docker
bash scripts/build-debian-image.sh fcemu-debian-flask:bookworm python3-flask
log "building fcemu (release)"
cargo build --quiet --release --locked -p fcemu
exec target/release/fcemu up fixtures/example "$@"
