#!/usr/bin/env bash
# Fuzzes every operation of the served OpenAPI document with Schemathesis
# (property-based, positive data, ~20 examples per operation, fixed seed; see
# scripts/fuzz/ and docs/decisions/0016-api-fuzz-test-in-ci.md).
#
# It builds `crm`, starts `crm serve` against its own database, JetStream
# stream, subject prefix and port, mints an admin token with `crm token`, runs
# Schemathesis, then stops the server and removes the database and stream.
# Fails on any 5xx, any response whose status, content type, headers or body
# the document does not describe, and any schema-valid request answered 400.
#
# Extra arguments go to `schemathesis run` (e.g. --phases stateful, -n 50).
#
# Needs PostgreSQL and NATS (scripts/services.sh) and Debian's python3 with
# venv (installed when missing). Schemathesis is pinned in
# scripts/fuzz/requirements.txt and installed into $CARGO_TARGET_DIR/fuzz-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { if [ -t 2 ]; then printf '\033[1m==>\033[0m %s\n' "$*" >&2; else printf '==> %s\n' "$*" >&2; fi; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

# --- Schemathesis in a virtualenv ---------------------------------------------
# Debian's Python is externally managed: pip installs only into a venv, and
# `python3 -m venv` needs the python3-venv package.
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  say "installing python3-venv (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
venv="$target_dir/fuzz-venv"
stamp="$venv/.requirements.sha256"
want=$(sha256sum scripts/fuzz/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Schemathesis into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/fuzz/requirements.txt
  echo "$want" >"$stamp"
fi

# --- the server, on its own database, stream and port --------------------------
cargo build --locked --bin crm --target-dir "$target_dir"
crm="$target_dir/debug/crm"

run_id="fuzz_$$_$(date +%s)"
db="crm_${run_id}"
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="${CRM_FUZZ_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}/$db"
export NATS_URL="${CRM_FUZZ_NATS_URL:-nats://127.0.0.1:4222}"
export CRM_BIND="127.0.0.1:$port"
export CRM_NATS_STREAM="CRM_${run_id^^}"
export CRM_SUBJECT_PREFIX="$run_id"
export CRM_JWT_SECRET="fuzz-only-secret-$(head -c 24 /dev/urandom | base64)"
export CRM_MASTER_KEY="fuzz:$(head -c 32 /dev/urandom | base64)"
# Rate limits off: 429 is documented, but the fuzz should reach the handlers.
export CRM_RATE_LIMIT_USER_RPS=0 CRM_RATE_LIMIT_TENANT_RPS=0
export CRM_POLICY_INTERVAL_SECS=0
log="$target_dir/fuzz-api-server.log"

nats_host=${NATS_URL#nats://}; nats_host=${nats_host%%,*}
delete_stream() {
  # The NATS protocol by hand: ask JetStream to delete the stream.
  (
    exec 3<>"/dev/tcp/${nats_host%:*}/${nats_host##*:}" || exit 0
    printf 'CONNECT {"verbose":false}\r\nPUB $JS.API.STREAM.DELETE.%s 0\r\n\r\nPING\r\n' "$CRM_NATS_STREAM" >&3
    timeout 3 grep -m1 -q PONG <&3 || true
  ) 2>/dev/null || true
}
server=
cleanup() {
  status=$?
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  psql "${DATABASE_URL%/*}/postgres" -qAtc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  delete_stream
  if [ "$status" -ne 0 ] && [ -f "$log" ]; then echo "server log: $log" >&2; fi
  exit "$status"
}
trap cleanup EXIT

say "starting crm serve on $CRM_BIND (database $db, stream $CRM_NATS_STREAM)"
"$crm" serve >"$log" 2>&1 &
server=$!
for _ in $(seq 150); do
  curl -fsS "http://$CRM_BIND/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "http://$CRM_BIND/readyz" >/dev/null
token=$("$crm" token --tenant fuzz --user 00000000-0000-4000-8000-00000000f022 --role admin --ttl 1h)

# --- Schemathesis -------------------------------------------------------------
say "fuzzing every operation of http://$CRM_BIND/openapi.json"
start=$(date +%s)
# From a scratch directory: Schemathesis keeps a cache in its working
# directory, and a run must not depend on an earlier one.
work="$target_dir/fuzz-work"
rm -rf "$work" && mkdir -p "$work"
(
  cd "$work"
  PYTHONPATH="$OLDPWD/scripts/fuzz" SCHEMATHESIS_HOOKS=hooks "$venv/bin/schemathesis" \
    --config-file "$OLDPWD/scripts/fuzz/schemathesis.toml" \
    run "http://$CRM_BIND/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,positive_data_acceptance \
    --generation-database none \
    --workers 2 --no-color --report junit --report-dir "$target_dir/fuzz-report" "$@"
)
say "fuzzing took $(( $(date +%s) - start )) s"
