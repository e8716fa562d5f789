#!/usr/bin/env bash
# A streaming replica (hot standby) of the machine's PostgreSQL, for the read-routing
# tests: pg_basebackup into a directory of its own, run by its own pg_ctl on a second
# port as the postgres user. Idempotent: a standby that streams is kept, a stopped one
# started again (replay resumed, in case a killed test left it paused); anything else
# is rebuilt. Stop it with: runuser -u postgres -- pg_ctl -D /tmp/riverwatch-replica/data stop
# Prints the standby's URL on its last line.
set -Eeuo pipefail

PGV=$(ls /etc/postgresql | sort -V | tail -1)
BIN=/usr/lib/postgresql/$PGV/bin
HBA=/etc/postgresql/$PGV/main/pg_hba.conf
PRIMARY_PORT=${PGPORT:-5432}
PORT=${RIVERWATCH_REPLICA_PORT:-5433}
DIR=${RIVERWATCH_REPLICA_DIR:-/tmp/riverwatch-replica}
DATA=$DIR/data
LOG=$DIR/server.log
export PGHOST=127.0.0.1 PGUSER=postgres

say() { echo "[replica] $*" >&2; }
trap 'say "FAILED (line $LINENO); last lines of $LOG:"; tail -n 30 "$LOG" >&2 2>/dev/null' ERR
as_postgres() { runuser -u postgres -- "$@"; }
standby() { psql -X -At -p "$PORT" -d postgres -c "$1" 2>/dev/null; }

# 1. The primary must let replication connections in from this machine (the stock
# hba has no 'replication' line once trimmed to trust for 127.0.0.1).
if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32' "$HBA"; then
  say "allowing replication connections from 127.0.0.1 in $HBA"
  printf '# Written by riverwatch .ci/replica.sh\nhost replication all 127.0.0.1/32 trust\n' >>"$HBA"
  psql -X -q -p "$PRIMARY_PORT" -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
fi

# 2. Keep a standby that runs, is in recovery and streams from the primary; one that was
# stopped is started again first (a rebuild copies the whole cluster).
streaming() {
  as_postgres "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 &&
    [ "$(standby 'SELECT pg_is_in_recovery()')" = t ] &&
    [ "$(standby "SELECT status FROM pg_stat_wal_receiver")" = streaming ]
}
wait_streaming() {
  for _ in $(seq "$1"); do streaming && return 0; sleep 0.5; done
  return 1
}
if ! streaming && [ -f "$DATA/standby.signal" ] && [ ! -f "$DATA/postmaster.pid" ]; then
  say "starting the stopped standby on port $PORT"
  as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null 2>&1 || true
  wait_streaming 30 || true
fi
if streaming; then
  standby 'SELECT pg_wal_replay_resume()' >/dev/null
  say "standby streaming on port $PORT"
else
  if [ -f "$DATA/postmaster.pid" ]; then
    as_postgres "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
  install -d -o postgres -g postgres -m 700 "$DIR"
  say "pg_basebackup from port $PRIMARY_PORT into $DATA"
  # -R writes standby.signal and primary_conninfo; -X stream carries the WAL written
  # while the copy runs.
  as_postgres "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$DATA" \
    -R -X stream -c fast
  # Debian keeps the configuration outside the data directory: the standby gets its own.
  # The same preloaded libraries as the primary (TimescaleDB's catalogue is replicated).
  LIBS=$(psql -X -At -p "$PRIMARY_PORT" -d postgres -c 'SHOW shared_preload_libraries')
  as_postgres tee "$DATA/postgresql.conf" >/dev/null <<EOF
# Written by riverwatch .ci/replica.sh: a hot standby for the read-routing tests.
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
hba_file = '$DIR/pg_hba.conf'
shared_preload_libraries = '$LIBS'
timescaledb.telemetry_level = off
hot_standby = on
hot_standby_feedback = on
max_connections = 100
shared_buffers = 64MB
autovacuum = off
EOF
  as_postgres tee "$DIR/pg_hba.conf" >/dev/null <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
  say "starting the standby on port $PORT (log: $LOG)"
  as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null
  wait_streaming 60 || { say "the standby does not stream from the primary"; false; }
fi
say "OK: standby of port $PRIMARY_PORT streaming on port $PORT"
echo "postgresql://postgres@127.0.0.1:$PORT/postgres"
