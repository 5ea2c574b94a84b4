#!/usr/bin/env bash
# Starts the whole backend: PostgreSQL and NATS (installed and started if
# needed), then `crm serve` (database created, migrations applied, stream
# created). Without CRM_JWT_SECRET it runs in development mode and prints an
# admin token and a curl example. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo build --release --bin crm
exec target/release/crm serve "$@"
