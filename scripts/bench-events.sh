#!/usr/bin/env bash
# bench-events.sh [EMPLOYEES=2000] [EVENTS=200] — event latency of `hrsync serve`: a throwaway
# slapd and IceHrm emulator with EMPLOYEES people, an initial sync, then the daemon; for each of
# EVENTS employees the last name changes in "HR", a signed event names the employee, and the
# time until the directory shows the change is measured. Prints p50/p90/p99/max.
# Loopback only; stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N=${1:-2000}
EVENTS=${2:-200}
scripts/install-deps.sh
ensure_cargo
echo "== building (release)" >&2
cargo build --quiet --release --bins --examples -p hrsync -p hrsync-emulator
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release

WORK=$(mktemp -d /tmp/hrsync-bench-events.XXXXXX)
SERVE_PID=
cleanup() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
  fi
  stop_stack "$WORK"
}
trap cleanup EXIT INT TERM
NOSYNC=${NOSYNC:-0} start_stack "$BIN" "$WORK" "$N" 7
PORT=$(free_port)
HRSYNC_EVENT_SECRET="bench-$(openssl rand -hex 16)"
export HRSYNC_EVENT_SECRET
sed -i -e "s#^page_size = 100 .*#page_size = 1000#" -e "s#^path = \"hrsync.db\"#path = \"$WORK/state.db\"#" "$WORK/hrsync.toml"
cat >>"$WORK/hrsync.toml" <<CFG

[serve]
listen = "127.0.0.1:$PORT"

[[event]]
name = "icehrm"
mapping = "icehrm-staff"
format = "generic"
auth = "hmac_sha256"
secret = { env = "HRSYNC_EVENT_SECRET" }
CFG
echo "== initial sync of $N employees" >&2
"$BIN/hrsync" apply --yes --summary -c "$WORK/hrsync.toml" >/dev/null
echo "== hrsync serve on 127.0.0.1:$PORT" >&2
"$BIN/hrsync" serve -c "$WORK/hrsync.toml" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "the daemon did not start; see $WORK/serve.log" >&2; cat "$WORK/serve.log" >&2; exit 1; }
echo "== $EVENTS events, one at a time" >&2
DAEMON="http://127.0.0.1:$PORT" EVENTS=$EVENTS HR=$HR "$BIN/examples/event_latency"
echo "daemon metrics (event latency histogram):" >&2
curl -fs "http://127.0.0.1:$PORT/metrics" | grep -E '^hrsync_event_latency_seconds_(sum|count)|^hrsync_runs_total' || true
