#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS (with JetStream) run on localhost, installing
# them from Debian's packages (`postgresql`, `nats-server`) when missing.
# Used by scripts/run.sh, scripts/test.sh and .ci/run. Safe to run again.
set -euo pipefail

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

PG_HOST=127.0.0.1 PG_PORT=5432 NATS_PORT=4222
NATS_STORE=${NATS_STORE:-/var/lib/nats-server}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

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
  say "starting nats-server with JetStream (store: $NATS_STORE)"
  as_root mkdir -p "$NATS_STORE"
  as_root start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_STORE"
  for _ in $(seq 50); do port_open "$NATS_PORT" && break; sleep 0.2; done
fi
port_open "$NATS_PORT" || { echo "nats-server did not start on port $NATS_PORT" >&2; exit 1; }

say "PostgreSQL on $PG_HOST:$PG_PORT and NATS on 127.0.0.1:$NATS_PORT are up"
