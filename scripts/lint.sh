#!/usr/bin/env bash
# Formatting and clippy, as CI checks them.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
