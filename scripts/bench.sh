#!/usr/bin/env bash
# The benchmark (just bench): builds in release mode, builds the fixture image, then measures fcemu side by
# side with the floor it stands on and writes target/bench/report.json. Pass --short for a quick pass.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_docker
bash scripts/build-fixtures.sh --no-flask
log "building fcemu and the benchmark (release)"
cargo build --quiet --release --locked -p fcemu -p fcemu-bench
target/release/fcemu-bench --fcemu target/release/fcemu "$@"
left=$(docker ps -aq --filter label=fcemu.managed=true | wc -l)
if [ "$left" -gt 0 ]; then
  echo "FAIL: the benchmark left $left fcemu containers behind" >&2
  exit 1
fi
