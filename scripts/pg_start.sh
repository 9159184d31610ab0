#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for scenetrack on loopback, in a directory of its own.
#
#   scripts/pg_start.sh DIR [PORT]
#   scripts/pg_start.sh --install-only     (CI: install when missing, print the bin dir, exit)
#
# Installs PostgreSQL from Debian's packages when no server binaries are found, initdb's a
# cluster in DIR/data (as the 'postgres' system user when run as root: PostgreSQL refuses to
# run as root), listens ONLY on 127.0.0.1 (PORT, default: a free port), password auth
# (scram-sha-256) over TCP, and creates the pipeline's writer role 'scenetrack' (LOGIN,
# CREATEROLE, owner of database 'scenetrack'). On stdout it prints shell assignments only:
#
#   SCENETRACK_WAREHOUSE=postgresql://scenetrack:...@127.0.0.1:PORT/scenetrack
#   SCENETRACK_BI_PASSWORD=...          (the password ensure_roles gives bi_reader)
#   SCENETRACK_PG_ADMIN_DSN=postgresql://postgres:...@127.0.0.1:PORT/postgres
#   SCENETRACK_PG_DIR=DIR
#   SCENETRACK_PG_VERSION=15.x
#
# so `eval "$(scripts/pg_start.sh DIR)"` sets them. Progress goes to stderr. Stop it with
# scripts/pg_stop.sh DIR.
set -euo pipefail

DIR=${1:?usage: pg_start.sh DIR [PORT] | --install-only}
PORT=${2:-}
log() { echo "pg_start: $*" >&2; }
die() { echo "pg_start: ERROR: $*" >&2; exit 1; }

find_bindir() {
    local c
    if c=$(command -v pg_ctl 2>/dev/null) && [ -x "$(dirname "$(readlink -f "$c")")/initdb" ]; then
        dirname "$(readlink -f "$c")"
        return 0
    fi
    c=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$c" ] && [ -x "$c/pg_ctl" ] && [ -x "$c/initdb" ]; then
        echo "$c"
        return 0
    fi
    return 1
}

BINDIR=$(find_bindir || true)
if [ -z "$BINDIR" ]; then
    log "no PostgreSQL server binaries found; installing Debian's 'postgresql' package"
    command -v apt-get >/dev/null || die "apt-get not available: install PostgreSQL (>= 13) by hand"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2 \
        || die "apt-get install postgresql failed"
    BINDIR=$(find_bindir) || die "postgresql installed but pg_ctl/initdb not found"
fi
log "using $BINDIR"
if [ "$DIR" = "--install-only" ]; then
    echo "$BINDIR"
    exit 0
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
DATA="$DIR/data"
[ ! -e "$DATA/PG_VERSION" ] || die "$DATA already holds a cluster; stop it and remove $DIR first"

if [ -z "$PORT" ]; then
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
fi

# Run the server binaries as an unprivileged user when we are root.
AS=()
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        log "creating system user 'postgres'"
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    chown postgres: "$DIR"
    chmod 0700 "$DIR"
    AS=(runuser -u postgres --)
fi

rand() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }
ADMIN_PW=$(rand)
WRITER_PW=$(rand)
BI_PW=${SCENETRACK_BI_PASSWORD:-$(rand)}
PWFILE="$DIR/.admin_pw"
printf '%s\n' "$ADMIN_PW" >"$PWFILE"
[ "${#AS[@]}" -eq 0 ] || chown postgres: "$PWFILE"
chmod 0600 "$PWFILE"

log "initdb $DATA"
"${AS[@]}" "$BINDIR/initdb" -D "$DATA" -U postgres --pwfile="$PWFILE" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
rm -f "$PWFILE"

# Loopback only; the unix socket lives in DIR (never /var/run/postgresql).
cat >>"$DATA/postgresql.conf" <<EOF

# --- scenetrack throwaway server (scripts/pg_start.sh) ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 60
EOF
# Local socket: trust (only the owner of DIR can reach it); TCP from 127.0.0.1: passwords.
cat >"$DATA/pg_hba.conf" <<EOF
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
EOF

log "starting on 127.0.0.1:$PORT"
"${AS[@]}" "$BINDIR/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start >&2 \
    || { tail -n 30 "$DIR/server.log" >&2 || true; die "the server did not start (log: $DIR/server.log)"; }

PSQL=("${AS[@]}" "$BINDIR/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
"${PSQL[@]}" >&2 <<EOF
create role scenetrack login createrole password '$WRITER_PW';
create database scenetrack owner scenetrack encoding 'UTF8' template template0;
EOF
VERSION=$("${PSQL[@]}" -c "show server_version" | cut -d" " -f1)
echo "$BINDIR" >"$DIR/.bindir"

echo "SCENETRACK_WAREHOUSE=postgresql://scenetrack:$WRITER_PW@127.0.0.1:$PORT/scenetrack"
echo "SCENETRACK_BI_PASSWORD=$BI_PW"
echo "SCENETRACK_PG_ADMIN_DSN=postgresql://postgres:$ADMIN_PW@127.0.0.1:$PORT/postgres"
echo "SCENETRACK_PG_DIR=$DIR"
echo "SCENETRACK_PG_VERSION=$VERSION"
log "PostgreSQL $VERSION is up on 127.0.0.1:$PORT (stop: scripts/pg_stop.sh $DIR)"
