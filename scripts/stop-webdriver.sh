#!/usr/bin/env bash
# stop-webdriver.sh WORKDIR [--purge] — stops the chromium-driver that start-webdriver.sh
# started, by the PID in its pid file only (its browsers end with it): SIGTERM, then SIGKILL.
set -euo pipefail
WORKDIR=${1:?usage: stop-webdriver.sh WORKDIR [--purge]}
PIDFILE="$WORKDIR/webdriver.pid"
if [ -f "$PIDFILE" ]; then
  PID=$(cat "$PIDFILE")
  if kill -0 "$PID" 2>/dev/null && grep -q chromedriver "/proc/$PID/cmdline" 2>/dev/null; then
    kill -TERM "$PID"
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID"; fi
    echo "stopped chromium-driver pid $PID" >&2
  fi
  rm -f "$PIDFILE"
fi
if [ "${2:-}" = "--purge" ]; then rm -rf "$WORKDIR"; fi
