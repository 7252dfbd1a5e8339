#!/usr/bin/env bash
# stop-smtp.sh WORKDIR [--purge] — stops the SMTP sink that start-smtp.sh started in WORKDIR,
# by the PID in its pid file only (never pkill): SIGTERM, then SIGKILL after 10 s.
set -euo pipefail
WORKDIR=${1:?usage: stop-smtp.sh WORKDIR [--purge]}
PIDFILE="$WORKDIR/smtp.pid"
if [ -f "$PIDFILE" ]; then
  PID=$(cat "$PIDFILE")
  # Refuse to signal a PID that is no longer our sink (stale pid file, PID reuse).
  if kill -0 "$PID" 2>/dev/null && grep -q smtp-sink "/proc/$PID/cmdline" 2>/dev/null; then
    kill -TERM "$PID"
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID"; fi
    echo "stopped the SMTP sink pid $PID" >&2
  fi
  rm -f "$PIDFILE"
fi
if [ "${2:-}" = "--purge" ]; then rm -rf "$WORKDIR"; fi
