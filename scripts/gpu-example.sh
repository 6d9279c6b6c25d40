#!/usr/bin/env bash
# Serves the GPU example (fixtures/gpu-example: a txt2img server with an execute-instruction Initializer, a
# PreStop and a provisioned instance in GPU idle mode) on simulated cards, from a fresh machine. Extra
# arguments go to `fcemu up`; FCEMU_SIMULATED_GPUS picks the cards (one 48 GB card when unset).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_docker
bash scripts/build-debian-image.sh fcemu-debian-gpu:bookworm python3-flask,curl,jq
log "building fcemu (release)"
cargo build --quiet --release --locked -p fcemu
exec target/release/fcemu up fixtures/gpu-example --gpu simulate "$@"
