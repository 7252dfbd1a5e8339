#!/usr/bin/env bash
# stop-slapd.sh WORKDIR [--purge] — stops the slapd that start-slapd.sh started in WORKDIR, by
# the PID in its pid file only (never pkill): SIGTERM, then SIGKILL after 10 s.
set -euo pipefail
WORKDIR=${1:?usage: stop-slapd.sh WORKDIR [--purge]}
PIDFILE="$WORKDIR/slapd.pid"
if [ -f "$PIDFILE" ]; then
  PID=$(cat "$PIDFILE")
  # Refuse to signal a PID that is no longer our slapd (stale pid file, PID reuse).
  if kill -0 "$PID" 2>/dev/null && grep -q slapd "/proc/$PID/comm" 2>/dev/null; then
    kill -TERM "$PID"
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID"; fi
    echo "stopped slapd pid $PID" >&2
  fi
  rm -f "$PIDFILE"
fi
if [ "${2:-}" = "--purge" ]; then rm -rf "$WORKDIR"; fi
