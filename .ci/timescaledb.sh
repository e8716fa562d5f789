#!/usr/bin/env bash
# Install TimescaleDB into the machine's PostgreSQL and enable it.
# Debian 12 ships no timescaledb package, so it is built from the trixie
# source package. Idempotent: a second run only checks and verifies.
set -Eeuo pipefail

PGV=$(ls /etc/postgresql | sort -V | tail -1)
PG_CONFIG=/usr/lib/postgresql/$PGV/bin/pg_config   # ships with the client package
CONF_D=/etc/postgresql/$PGV/main/conf.d
TS_CONF=$CONF_D/95-timescaledb.conf
SRC_LIST=/etc/apt/sources.list.d/riverwatch-trixie-src.sources
LOG=/tmp/riverwatch-timescaledb.log
export PGHOST=127.0.0.1 PGPORT=${PGPORT:-5432} PGUSER=postgres DEBIAN_FRONTEND=noninteractive
: >"$LOG"

say() { echo "[timescaledb] $*"; }
on_err() { say "FAILED (line $1); last lines of $LOG:"; tail -n 40 "$LOG" >&2; }
trap 'on_err $LINENO' ERR
psql_() { psql -X -q -v ON_ERROR_STOP=1 "$@" >>"$LOG" 2>&1; }

pg_ctl_() { pg_ctlcluster --skip-systemctl-redirect "$PGV" main "$1" >>"$LOG" 2>&1; }
wait_ready() {
  for _ in $(seq 60); do pg_isready -q && return 0; sleep 0.5; done
  say "PostgreSQL $PGV did not accept connections"; return 1
}

# 1. The server must be up: we read its settings and verify against it.
if ! pg_lsclusters -h "$PGV" main | grep -q online; then
  say "starting PostgreSQL $PGV"; pg_ctl_ start
fi
wait_ready

# 2+3. Build only when the extension files are missing.
if [ -f "$("$PG_CONFIG" --sharedir)/extension/timescaledb.control" ]; then
  say "extension already installed for PostgreSQL $PGV, skipping build"
else
  # Reuse whatever mirror this machine is configured with instead of naming one;
  # the -security archive does not carry the main suites' sources.
  DEB_SOURCES=/etc/apt/sources.list.d/debian.sources
  URI=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$DEB_SOURCES" | grep -v -- '-security/\?$' | head -1)
  KEYRING=$(awk '/^Signed-By:/ {print $2; exit}' "$DEB_SOURCES")
  [ -n "$URI" ] || { say "no main archive URI in $DEB_SOURCES"; exit 1; }
  # bookworm's debian-archive-keyring (2023.3+deb12u2) already holds the trixie keys.
  printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
    "$URI" "${KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}" >"$SRC_LIST"
  say "apt-get update (log: $LOG)"
  apt-get update >>"$LOG" 2>&1
  say "installing build dependencies"
  apt-get install -y --no-install-recommends --no-upgrade "postgresql-server-dev-$PGV" cmake make gcc \
    libc6-dev libssl-dev libkrb5-dev dpkg-dev xz-utils >>"$LOG" 2>&1

  WORK=$(mktemp -d /tmp/timescaledb-build.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  chown _apt "$WORK" 2>/dev/null || true   # apt downloads as _apt; else it warns
  cd "$WORK"
  say "fetching timescaledb source from trixie"
  apt-get source --download-only timescaledb/trixie >>"$LOG" 2>&1
  dpkg-source -x --no-check ./timescaledb_*.dsc src >>"$LOG" 2>&1
  cd src
  say "building $(dpkg-parsechangelog -S Version 2>/dev/null || echo timescaledb)"
  # Tests need a PG test harness we do not install; warnings-as-errors would tie
  # the build to the compiler version upstream happened to use.
  ./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
    -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$PG_CONFIG" >>"$LOG" 2>&1
  make -C build -j2 >>"$LOG" 2>&1
  make -C build install >>"$LOG" 2>&1
fi

# 4. Preload it, keeping libraries other config files preload. pg_file_settings
# reads the files on disk, so our own file's past value does not stick around.
# A late conf.d file overrides postgresql.conf, so the stock config is untouched.
norm() { tr ',' '\n' | tr -d " '\"" | grep -vx -e "$1" -e '' | paste -sd, - || true; }
OTHERS=$(psql -X -Atc "SELECT setting FROM pg_file_settings WHERE name = 'shared_preload_libraries'
  AND sourcefile <> '$TS_CONF' ORDER BY seqno DESC LIMIT 1" | norm timescaledb)
LIBS=${OTHERS:+$OTHERS,}timescaledb
WANT="# Written by riverwatch .ci/timescaledb.sh
shared_preload_libraries = '$LIBS'
timescaledb.telemetry_level = off"
[ "$(cat "$TS_CONF" 2>/dev/null)" = "$WANT" ] || echo "$WANT" >"$TS_CONF"
if [ "$(psql -X -Atc 'SHOW shared_preload_libraries' | norm '')" != "$LIBS" ] ||
   [ "$(psql -X -Atc "SELECT current_setting('timescaledb.telemetry_level', true)")" != off ]; then
  say "restarting PostgreSQL $PGV to preload $LIBS"
  pg_ctl_ restart
  wait_ready
fi

# 5. Prove it loads and works; hypertables cannot be temporary, so use a
# plain table inside a scratch database that is dropped afterwards.
psql_ -d postgres -c 'DROP DATABASE IF EXISTS rw_tsdb_check' -c 'CREATE DATABASE rw_tsdb_check'
psql_ -d rw_tsdb_check \
  -c 'CREATE EXTENSION IF NOT EXISTS timescaledb' \
  -c 'CREATE TABLE readings (ts timestamptz NOT NULL, level double precision)' \
  -c "SELECT create_hypertable('readings', 'ts')" \
  -c "INSERT INTO readings VALUES (now(), 1.5)"
VERSION=$(psql -X -Atd rw_tsdb_check -c "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
psql_ -d postgres -c 'DROP DATABASE rw_tsdb_check'
say "OK: TimescaleDB $VERSION enabled in PostgreSQL $PGV"
