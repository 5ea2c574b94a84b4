#!/usr/bin/env bash
# Starts the whole backend: PostgreSQL and NATS (installed and started if
# needed), then `crm serve` (database created, migrations applied, stream
# created). Without CRM_JWT_SECRET it runs in development mode and prints an
# admin token and a curl example. Ctrl-C stops it.
#
# `crm` is installed with `cargo install` (into $CARGO_INSTALL_ROOT/bin, by
# default ~/.cargo/bin), building in $CARGO_TARGET_DIR (default ./target),
# so `crm token …` and `crm projections status` work from any shell.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
bin_dir=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin
cargo install --locked --force --path . --bin crm --target-dir "$target_dir"
if [ "$(command -v crm || true)" != "$bin_dir/crm" ]; then
  echo "note: add $bin_dir to your PATH to call \`crm\` (e.g. export PATH=\"$bin_dir:\$PATH\")" >&2
fi
exec "$bin_dir/crm" serve "$@"
