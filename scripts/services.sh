#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS (with JetStream) run on localhost, installing
# them from Debian's packages (`postgresql`, `nats-server`) when missing.
# Used by scripts/run.sh, scripts/test.sh and .ci/run. Safe to run again.
set -euo pipefail

say() { if [ -t 2 ]; then printf '\033[1m==>\033[0m %s\n' "$*" >&2; else printf '==> %s\n' "$*" >&2; fi; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

PG_HOST=127.0.0.1 PG_PORT=5432 NATS_PORT=4222
NATS_STORE=${NATS_STORE:-/var/lib/nats-server}
NATS_LOG=${NATS_LOG:-/var/log/nats-server.log}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- curl and jq (the README's walkthrough and its test use them) -----------
missing=()
for tool in curl jq; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (Debian packages)"
  apt_install "${missing[@]}"
fi

# --- PostgreSQL --------------------------------------------------------------
installed_pg=
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  say "installing PostgreSQL (Debian package postgresql)"
  apt_install postgresql
  installed_pg=1
fi
version=$(ls /etc/postgresql | sort -V | tail -n1)
if ! port_open "$PG_PORT"; then
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 50); do port_open "$PG_PORT" && break; sleep 0.2; done
fi
if [ -n "$installed_pg" ]; then
  # A fresh Debian cluster asks for passwords over TCP; let the local
  # postgres user in without one (development machines only).
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! as_root grep -q '^host all postgres 127.0.0.1/32 trust' "$hba"; then
    say "allowing local TCP connections as postgres without a password ($hba)"
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
fi
if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  echo "PostgreSQL runs on $PG_HOST:$PG_PORT but user postgres cannot connect without a password." >&2
  echo "Add 'host all postgres 127.0.0.1/32 trust' to pg_hba.conf, or set DATABASE_URL with a password." >&2
  exit 1
fi

# --- NATS with JetStream -----------------------------------------------------
if ! command -v nats-server >/dev/null 2>&1; then
  say "installing NATS (Debian package nats-server)"
  apt_install nats-server
fi
if ! port_open "$NATS_PORT"; then
  say "starting nats-server with JetStream (store: $NATS_STORE, log: $NATS_LOG)"
  as_root mkdir -p "$NATS_STORE" "$(dirname "$NATS_LOG")"
  as_root start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_STORE" -l "$NATS_LOG"
  for _ in $(seq 50); do port_open "$NATS_PORT" && break; sleep 0.2; done
fi
port_open "$NATS_PORT" || {
  echo "nats-server did not start on port $NATS_PORT; see its log: $NATS_LOG" >&2
  exit 1
}
# A server answers with an INFO line; JetStream must be enabled in it.
nats_info() { (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT" && IFS= read -r -t 3 line <&3 && printf '%s' "$line") 2>/dev/null; }
info=$(nats_info || true)
case "$info" in
  *'"jetstream":true'*) ;;
  INFO*)
    echo "the NATS server on port $NATS_PORT runs without JetStream; restart it with -js (and -sd <store dir>)," >&2
    echo "e.g.: nats-server -a 127.0.0.1 -p $NATS_PORT -js -sd $NATS_STORE -l $NATS_LOG" >&2
    exit 1 ;;
  *)
    echo "port $NATS_PORT answers, but not as a NATS server (no INFO line)" >&2
    exit 1 ;;
esac

say "PostgreSQL on $PG_HOST:$PG_PORT and NATS on 127.0.0.1:$NATS_PORT are up"
