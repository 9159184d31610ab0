#!/usr/bin/env bash
# Start a throwaway Redis server (the Celery broker of the production topology) on loopback,
# in a directory of its own.
#
#   scripts/redis_start.sh DIR [PORT]
#   scripts/redis_start.sh --install-only     (CI: install when missing, print the binary, exit)
#
# Installs Debian's redis-server package when no redis-server binary is found (without starting
# the system service the package would start), then runs redis-server listening ONLY on
# 127.0.0.1 (PORT, default: a free port), with a random password (requirepass, kept in
# DIR/redis.conf, mode 0600, never on a command line) and an append-only file, so queued
# Celery messages survive a restart. Started again on the same DIR (after
# `redis_stop.sh DIR --keep`) it reuses that configuration: same port, same password, same
# data. On stdout it prints shell assignments only:
#
#   SCENETRACK_REDIS_URL=redis://:PASSWORD@127.0.0.1:PORT/0
#   SCENETRACK_REDIS_DIR=DIR
#   SCENETRACK_REDIS_VERSION=7.x
#
# so `eval "$(scripts/redis_start.sh DIR)"` sets them. Progress goes to stderr. Stop it with
# scripts/redis_stop.sh DIR.
set -euo pipefail

DIR=${1:?usage: redis_start.sh DIR [PORT] | --install-only}
PORT=${2:-}
log() { echo "redis_start: $*" >&2; }
die() { echo "redis_start: ERROR: $*" >&2; exit 1; }

find_server() {
    local c
    c=$(command -v redis-server 2>/dev/null || true)
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
    [ -x /usr/bin/redis-server ] && { echo /usr/bin/redis-server; return 0; }
    return 1
}

SERVER=$(find_server || true)
if [ -z "$SERVER" ]; then
    log "no redis-server found; installing Debian's 'redis-server' package"
    command -v apt-get >/dev/null || die "apt-get not available: install redis-server (>= 6) by hand"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    # Debian starts a packaged service on install; policy-rc.d (exit 101) forbids that, so the
    # only Redis running is the one this script starts. Removed again if we created it.
    POLICY=/usr/sbin/policy-rc.d
    MADE_POLICY=""
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
        $SUDO chmod 0755 "$POLICY"
        MADE_POLICY=1
    fi
    ok=1
    $SUDO apt-get update -qq >&2 || ok=0
    [ "$ok" -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >&2 || ok=0
    [ -z "$MADE_POLICY" ] || $SUDO rm -f "$POLICY"
    [ "$ok" -eq 1 ] || die "apt-get install redis-server failed"
    SERVER=$(find_server) || die "redis-server installed but not found"
fi
log "using $SERVER"
if [ "$DIR" = "--install-only" ]; then
    echo "$SERVER"
    exit 0
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONF="$DIR/redis.conf"
if [ -f "$DIR/redis.pid" ] && kill -0 "$(cat "$DIR/redis.pid")" 2>/dev/null; then
    die "a Redis server of $DIR is already running (pid $(cat "$DIR/redis.pid"))"
fi

if [ -f "$CONF" ]; then
    log "restarting with the configuration in $CONF"
    PORT=$(awk '$1 == "port" {print $2}' "$CONF")
    PASSWORD=$(awk '$1 == "requirepass" {print $2}' "$CONF")
else
    if [ -z "$PORT" ]; then
        PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    fi
    PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    umask 077
    cat >"$CONF" <<CONF
# scenetrack throwaway Redis (scripts/redis_start.sh): the Celery broker, loopback only
bind 127.0.0.1
protected-mode yes
port $PORT
requirepass $PASSWORD
daemonize yes
pidfile $DIR/redis.pid
logfile $DIR/redis.log
dir $DIR
# queued Celery messages survive a restart (redis_stop.sh --keep, then redis_start.sh again)
appendonly yes
appendfsync everysec
save ""
CONF
fi

python3 - "$PORT" <<'PY' || die "port $PORT on 127.0.0.1 is taken: choose another (or stop what holds it)"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT is no owner
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
finally:
    s.close()
PY

log "starting on 127.0.0.1:$PORT"
"$SERVER" "$CONF" >&2 || { tail -n 30 "$DIR/redis.log" >&2 || true; die "redis-server did not start"; }

# ready when it answers PING with the password (the client comes from redis-tools)
CLI=$(command -v redis-cli || echo "$(dirname "$SERVER")/redis-cli")
for _ in $(seq 1 100); do
    if REDISCLI_AUTH="$PASSWORD" "$CLI" -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; then
        VERSION=$("$SERVER" --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
        echo "SCENETRACK_REDIS_URL=redis://:$PASSWORD@127.0.0.1:$PORT/0"
        echo "SCENETRACK_REDIS_DIR=$DIR"
        echo "SCENETRACK_REDIS_VERSION=$VERSION"
        log "Redis $VERSION is up on 127.0.0.1:$PORT (stop: scripts/redis_stop.sh $DIR)"
        exit 0
    fi
    sleep 0.1
done
tail -n 30 "$DIR/redis.log" >&2 || true
die "redis-server did not answer PING within 10 s (log: $DIR/redis.log)"
