#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing (Debian packages, Docker if it is not
# running), builds the fixture images, runs every test, and fails if any fcemu container is left behind.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_docker
bash scripts/build-fixtures.sh

log "cargo test (unit tests on the fake runtime, integration and end-to-end tests on Docker)"
cargo test --workspace --locked "$@"

left=$(docker ps -aq --filter label=fcemu.managed=true | wc -l)
if [ "$left" -gt 0 ]; then
  docker ps -a --filter label=fcemu.managed=true >&2
  echo "FAIL: $left containers labelled fcemu.managed=true were left behind by the tests" >&2
  exit 1
fi
log "no fcemu container left behind"
