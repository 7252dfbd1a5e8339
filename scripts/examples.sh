#!/usr/bin/env bash
# examples.sh — runs every example config as the README says ("The examples"), untouched, one
# after another against one slapd and the emulators, on the ports the examples name (slapd
# 3389, IceHrm 8089, Acme HR 8091, Paycor 8092; they must be free). Stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
scripts/install-deps.sh
ensure_cargo
cargo build --quiet --bins
BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug
for p in 3389 8089 8091 8092; do
  if (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "port $p is in use" >&2; exit 1; fi
done
WORK=$(mktemp -d /tmp/hrsync-examples.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  scripts/stop-slapd.sh "$WORK/slapd" --purge >/dev/null 2>&1 || true
  rm -f examples/hrsync.db* examples/hrsync-csv.db* examples/hrsync-rest.db* examples/hrsync-paycor.db* examples/paycor.refresh-token*
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
wait_http() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "$1 did not answer" >&2; return 1; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# --- the README's commands, as written there ---
scripts/start-slapd.sh "$WORK/slapd" 3389 >/dev/null
. "$WORK/slapd/env"; export LDAP_BIND_PW
export ICEHRM_TOKEN=$("$BIN/hrsync-emulator" icehrm-token)
"$BIN/hrsync-emulator" icehrm --port 8089 --employees 200 --seed 42 --token-env ICEHRM_TOKEN >"$WORK/icehrm.log" 2>&1 & PIDS+=($!)
export ACME_TOKEN=demo-token ACME_API_KEY=demo-key
"$BIN/hrsync-emulator" rest --port 8091 --employees 200 --seed 7 --style page \
    --token-env ACME_TOKEN --api-key-env ACME_API_KEY >"$WORK/acme.log" 2>&1 & PIDS+=($!)
export PAYCOR_SUBSCRIPTION_KEY=demo-paycor-key PAYCOR_CLIENT_SECRET=demo-paycor-secret
export PAYCOR_REFRESH_TOKEN=demo-paycor-refresh
"$BIN/hrsync-emulator" paycor --port 8092 --employees 50 --seed 5 --key-env PAYCOR_SUBSCRIPTION_KEY \
    --client-secret-env PAYCOR_CLIENT_SECRET --refresh-token-env PAYCOR_REFRESH_TOKEN >"$WORK/paycor.log" 2>&1 & PIDS+=($!)
rm -f examples/paycor.refresh-token*
wait_http http://127.0.0.1:8089/app/api/echo; wait_http http://127.0.0.1:8091/; wait_http http://127.0.0.1:8092/

for ex in icehrm-openldap csv-openldap rest-openldap paycor-openldap; do
  step "$ex: check, apply, then a plan that has nothing to do"
  "$BIN/hrsync" check -c "examples/$ex.toml"
  "$BIN/hrsync" apply -c "examples/$ex.toml" --yes --summary
  "$BIN/hrsync" plan -c "examples/$ex.toml" --summary
done
step "the first example lists the others' accounts as orphans (never changed)"
# (captured first: with pipefail, `| head` would fail the step by cutting the output short)
orphans_out=$("$BIN/hrsync" orphans -c examples/icehrm-openldap.toml)
head -5 <<<"$orphans_out"
step "icehrm-service.toml: a check, and a sync in its own subtree"
export HRSYNC_EVENT_SECRET=demo-event-secret
"$BIN/hrsync" check -c examples/icehrm-service.toml
"$BIN/hrsync" apply -c examples/icehrm-service.toml --yes --summary
rm -f examples/hrsync-service.db*
echo "all examples ran"
