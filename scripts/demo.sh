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
EMU_PID=""
cleanup() {
  if [ -n "$EMU_PID" ] && kill -0 "$EMU_PID" 2>/dev/null; then kill -TERM "$EMU_PID"; wait "$EMU_PID" 2>/dev/null || true; fi
  scripts/stop-slapd.sh "$WORK/slapd" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

LDAP_PORT=$(free_port)
ROOTPW="demo-$(openssl rand -hex 8)" scripts/start-slapd.sh "$WORK/slapd" "$LDAP_PORT"
# shellcheck disable=SC1091
. "$WORK/slapd/env"

# An IceHrm "Api Access" token is a JWT whose payload carries {token, expire}; make one.
b64() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
ICEHRM_TOKEN="$(printf '{"typ":"JWT","alg":"HS256"}' | b64).$(printf '{"token":"%s","expire":%d}' "$(openssl rand -hex 16)" $(( $(date +%s) + 180 * 86400 )) | b64).$(openssl rand -hex 32 | b64)"
export ICEHRM_TOKEN LDAP_BIND_PW

HR_PORT=$(free_port)
"$BIN/hrsync-emulator" icehrm --port "$HR_PORT" --employees 200 --seed 42 --token-env ICEHRM_TOKEN >"$WORK/emulator.log" 2>&1 &
EMU_PID=$!
HR="http://127.0.0.1:$HR_PORT/app/api"
for _ in $(seq 1 100); do curl -fs "$HR/echo" >/dev/null 2>&1 && break; sleep 0.05; done

sed -e "s#http://127.0.0.1:8089/app/api#$HR#" -e "s#ldap://127.0.0.1:3389#$LDAP_URL#" \
  examples/icehrm-openldap.toml > "$WORK/hrsync.toml"
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
