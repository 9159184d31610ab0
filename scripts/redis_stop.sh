#!/usr/bin/env bash
# Stop the throwaway Redis server started by scripts/redis_start.sh DIR, and remove DIR unless
# --keep is given (a kept DIR restarts with the same port, password and queued messages).
#
#   scripts/redis_stop.sh DIR [--keep]
set -euo pipefail

DIR=${1:?usage: redis_stop.sh DIR [--keep]}
KEEP=${2:-}
log() { echo "redis_stop: $*" >&2; }

[ -d "$DIR" ] || { log "$DIR does not exist: nothing to stop"; exit 0; }
PIDFILE="$DIR/redis.pid"
if [ -f "$PIDFILE" ] && PID=$(cat "$PIDFILE") && kill -0 "$PID" 2>/dev/null; then
    log "stopping Redis (pid $PID)"
    kill -TERM "$PID"  # redis-server: SIGTERM = SHUTDOWN (the append-only file is flushed)
    for _ in $(seq 1 100); do
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$PID" 2>/dev/null; then
        log "still running after 10 s: SIGKILL"
        kill -KILL "$PID" || true
    fi
else
    log "no running server in $DIR"
fi
rm -f "$PIDFILE"
if [ "$KEEP" != "--keep" ]; then
    rm -rf "$DIR"
fi
