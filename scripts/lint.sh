#!/usr/bin/env bash
# Formatting, clippy and the house's shape, as CI checks them: no import circle inside a crate
# (docs/architecture.md), no source file over 500 lines, and every link of the docs inside the repository.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
python3 scripts/module-graph.py
long=$(find crates -path '*/src/*' -name '*.rs' -exec wc -l {} + | awk '$2 != "total" && $1 > 500 {print $2" ("$1" lines)"}')
if [ -n "$long" ]; then
  echo "source files over 500 lines (split them by concern):" >&2
  echo "$long" >&2
  exit 1
fi
python3 scripts/check-docs.py
