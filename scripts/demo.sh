#!/usr/bin/env bash
# demo.sh — hrsync end to end on one machine: IceHrm emulator (200 employees) → plan → apply
# into a throwaway slapd; then a hire, a move and a termination in "HR", plan/apply again, and a
# last plan that shows nothing left to do. Installs what is missing; stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
scripts/install-deps.sh
ensure_cargo

echo "== building hrsync" >&2
cargo build --quiet --bins
BIN=$PWD/target/debug

WORK=$(mktemp -d /tmp/hrsync-demo.XXXXXX)
trap 'stop_stack "$WORK"' EXIT INT TERM
start_stack "$BIN" "$WORK" 200 42
CFG=(-c "$WORK/hrsync.toml")
hr() { curl -fsS -X "$1" -H "Authorization: Bearer $ICEHRM_TOKEN" -H 'Content-Type: application/json' "$HR$2" ${3:+--data "$3"}; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "check the configuration"
"$BIN/hrsync" check "${CFG[@]}"

step "PLAN 1: first sync of 200 IceHrm employees into an empty directory (first 8 changes shown)"
"$BIN/hrsync" plan "${CFG[@]}" --limit 8

step "apply it"
"$BIN/hrsync" apply "${CFG[@]}" --yes --summary

step "in HR: hire Zoë O'Brien-Łukasiewicz, move employee 12 to Finance, terminate employee 30 (IceHrm REST API)"
hr POST /employees '{"employee_id":"EMP09001","first_name":"Zoë","last_name":"O'"'"'Brien-Łukasiewicz","work_email":"zoe.obrien@example.test","department":4,"job_title":5,"supervisor":2,"joined_date":"2026-11-23"}' >/dev/null
hr PUT /employees/12 '{"department":4}' >/dev/null
hr PUT /employees/30 "{\"status\":\"Terminated\",\"termination_date\":\"$(date +%F)\"}" >/dev/null

step "PLAN 2: one joiner, one mover, one leaver"
"$BIN/hrsync" plan "${CFG[@]}"

step "apply it"
"$BIN/hrsync" apply "${CFG[@]}" --yes --summary

step "PLAN 3: nothing left to do"
"$BIN/hrsync" plan "${CFG[@]}"

step "runs and the audit of the last apply"
"$BIN/hrsync" runs "${CFG[@]}"
LAST=$("$BIN/hrsync" runs "${CFG[@]}" --json | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r["command"]=="apply"][0])')
"$BIN/hrsync" audit "${CFG[@]}" --run "$LAST"

step "the directory: the leaver is locked (ppolicy), the joiner exists"
ldapsearch -x -LLL -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PW" -b "$LDAP_BASE_DN" \
  '(|(pwdAccountLockedTime=*)(employeeNumber=EMP09001))' cn departmentNumber pwdAccountLockedTime
echo
echo "demo finished; stopping the emulator and slapd" >&2
