# The recipes people type. Each is a thin wrapper over scripts/, which CI and the README call directly.

# Serve the example project (fixtures/example) with fcemu up
up *ARGS:
    bash scripts/example.sh {{ARGS}}

# Run every test (builds the fixture images first)
test *ARGS:
    bash scripts/test.sh {{ARGS}}

# Measure fcemu against the floor it stands on (target/bench/report.json); --short for a quick pass
bench *ARGS:
    bash scripts/bench.sh {{ARGS}}

# Build the fixture images only
fixtures:
    bash scripts/build-fixtures.sh

# cargo fmt --check and clippy -D warnings
lint:
    bash scripts/lint.sh

# Remove every container fcemu left behind
down:
    cargo run --quiet -p fcemu -- down
