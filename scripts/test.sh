#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy (warnings are errors), all
# tests against real PostgreSQL and NATS (installed and started if needed)
# and the test peers of scripts/test-peers.sh (an iCalendar parser),
# and the API fuzz (scripts/fuzz-api.sh: Schemathesis over /openapi.json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
CRM_TEST_PYTHON=$(scripts/test-peers.sh)
export CRM_TEST_PYTHON
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
scripts/fuzz-api.sh
