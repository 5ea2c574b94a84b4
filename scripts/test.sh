#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy (warnings are errors) and all
# tests against real PostgreSQL and NATS (installed and started if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
