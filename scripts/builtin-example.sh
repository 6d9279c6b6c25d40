#!/usr/bin/env bash
# Serves a built-in runtime example from a fresh machine: fixtures/python-example (the default) or, with
# `node`, fixtures/node-example. Builds the runtime images (Debian's python3 and nodejs, with debootstrap:
# no registry needed) and fcemu first. Extra arguments go to `fcemu up`.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

example=python-example
case "${1:-}" in
  node|nodejs) example=node-example; shift ;;
  python) shift ;;
esac
ensure_docker
bash scripts/build-runtime-images.sh
log "building fcemu (release)"
cargo build --quiet --release --locked -p fcemu
exec target/release/fcemu up "fixtures/$example" "$@"
