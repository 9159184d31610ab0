#!/usr/bin/env bash
# Stop the throwaway PostgreSQL server started by scripts/pg_start.sh DIR, and remove DIR
# unless --keep is given.
#
#   scripts/pg_stop.sh DIR [--keep]
set -euo pipefail

DIR=${1:?usage: pg_stop.sh DIR [--keep]}
KEEP=${2:-}
log() { echo "pg_stop: $*" >&2; }

[ -d "$DIR" ] || { log "$DIR does not exist: nothing to stop"; exit 0; }
DATA="$DIR/data"
BINDIR=$(cat "$DIR/.bindir" 2>/dev/null || true)
if [ -z "$BINDIR" ]; then
    BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
AS=()
if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
    AS=(runuser -u postgres --)
fi

if [ -f "$DATA/postmaster.pid" ] && [ -n "$BINDIR" ]; then
    log "stopping the server in $DATA"
    "${AS[@]}" "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >&2 || {
        log "fast stop failed; trying immediate"
        "${AS[@]}" "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >&2
    }
else
    log "no running server in $DATA"
fi

if [ "$KEEP" != "--keep" ]; then
    rm -rf "$DIR"
fi
