#!/usr/bin/env bash
# stop-samba-ad.sh WORKDIR [--purge] — stops the DC that start-samba-ad.sh started, by PID:
# SIGTERM to the master (its pre-fork children follow), SIGKILL after 10 s, then any child
# still alive, each by its own PID after checking it is a samba process. Never pkill.
set -euo pipefail
WORKDIR=${1:?usage: stop-samba-ad.sh WORKDIR [--purge]}
PIDFILE="$WORKDIR/samba.pid"
is_samba() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q samba; }
if [ -f "$PIDFILE" ]; then
  PID=$(cat "$PIDFILE")
  if kill -0 "$PID" 2>/dev/null && is_samba "$PID"; then
    kids=$( (ps -o pid= --ppid "$PID"; ps -o pid= -g "$PID") 2>/dev/null | sort -u || true)
    kill -TERM "$PID"
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID"; fi
    for k in $kids; do
      [ "$k" = "$PID" ] && continue
      if kill -0 "$k" 2>/dev/null && is_samba "$k"; then kill -TERM "$k" 2>/dev/null || true; fi
    done
    echo "stopped samba pid $PID" >&2
  fi
  rm -f "$PIDFILE"
fi
if [ "${2:-}" = "--purge" ]; then rm -rf "$WORKDIR"; fi
