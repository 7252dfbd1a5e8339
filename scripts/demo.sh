#!/usr/bin/env bash
# demo.sh [--ad | --console] — hrsync end to end on one machine: IceHrm emulator (200 employees) →
# plan → apply into a throwaway slapd (or, with --ad, a throwaway Samba Active Directory domain
# controller); then a hire, a move and a termination in "HR", plan/apply again, and a last plan
# that shows nothing left to do. Installs what is missing; stops what it started.
# With --ad and AD_ENV=/path/to/env, an already running DC (scripts/start-samba-ad.sh) is used.
# With --console: the stack, a first sync, then `hrsync serve` with the web console; prints its
# URL and a one-time password of a directory account in the console's admin group (the account
# lives in the throwaway slapd and ends with the demo). Ctrl-C stops everything
# (CONSOLE_FOR=SECONDS stops it after that long, for scripted runs).
set -euo pipefail
AD=0
CONSOLE=0
[ "${1:-}" = "--ad" ] && AD=1
[ "${1:-}" = "--console" ] && CONSOLE=1
cd "$(dirname "$0")/.."
. scripts/lib.sh
scripts/install-deps.sh
ensure_cargo

echo "== building hrsync" >&2
cargo build --quiet --bins
BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug

WORK=$(mktemp -d /tmp/hrsync-demo.XXXXXX)
cleanup() {
  [ "$AD" = 1 ] && [ -z "${AD_ENV:-}" ] && scripts/stop-samba-ad.sh "$WORK/ad" >/dev/null 2>&1
  stop_stack "$WORK"
}
trap cleanup EXIT INT TERM
start_stack "$BIN" "$WORK" 200 42
CFG=(-c "$WORK/hrsync.toml")
if [ "$AD" = 1 ]; then
  if [ -n "${AD_ENV:-}" ]; then
    # shellcheck disable=SC1090
    . "$AD_ENV"
  else
    NOSYNC=1 scripts/start-samba-ad.sh "$WORK/ad"
    # shellcheck disable=SC1091
    . "$WORK/ad/env"
  fi
  export AD_BIND_PW LDAPTLS_CACERT=$AD_CA_CERT
  # The example's OU=HR, in a fresh OU per demo run (the domain may be shared).
  TAG="demo$RANDOM"
  HRBASE="OU=$TAG,$AD_BASE_DN"
  A=(-x -H "$AD_LDAPS_URL" -D "$AD_BIND_DN" -w "$AD_BIND_PW")
  ldapadd "${A[@]}" >/dev/null <<LDIF
dn: $HRBASE
objectClass: organizationalUnit

dn: OU=People,$HRBASE
objectClass: organizationalUnit

dn: OU=Groups,$HRBASE
objectClass: organizationalUnit

dn: OU=Disabled Users,$HRBASE
objectClass: organizationalUnit

dn: CN=All Staff,OU=Groups,$HRBASE
objectClass: group
sAMAccountName: $TAG-all

dn: CN=CRM Users,OU=Groups,$HRBASE
objectClass: group
sAMAccountName: $TAG-crm
LDIF
  sed -e "s#http://127.0.0.1:8089/app/api#$HR#" -e "s#ldaps://127.0.0.1#$AD_LDAPS_URL#" \
      -e "s#/etc/hrsync/ad-ca.pem#$AD_CA_CERT#" -e "s#CN=Administrator,CN=Users,DC=example,DC=test#$AD_BIND_DN#" \
      -e "s#OU=HR,DC=example,DC=test#$HRBASE#g" -e "s#/var/lib/hrsync/initial-passwords.jsonl#$WORK/initial-passwords.jsonl#" \
      -e "s#{employee_id|lower}@example.test#{employee_id|lower}.$TAG@example.test#" \
      -e "s#^sAMAccountName = .*#sAMAccountName = { format = \"d$((RANDOM % 9000 + 1000)){employee_id|lower|replace('emp','')}\", required = true }#" \
      examples/icehrm-ad.toml > "$WORK/hrsync.toml"
fi
if [ "$CONSOLE" = 1 ]; then
  step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
  step "first sync: 200 IceHrm employees into the directory"
  "$BIN/hrsync" apply "${CFG[@]}" --yes --summary
  # The console's operators: a directory account in an admin group, with a fresh password.
  OTP=$(openssl rand -base64 18 | tr -d '/+=' | cut -c1-16)
  ldapadd -x -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PW" >/dev/null <<LDIF
dn: ou=console,$LDAP_BASE_DN
objectClass: organizationalUnit
ou: console

dn: uid=admin,ou=console,$LDAP_BASE_DN
objectClass: inetOrgPerson
uid: admin
cn: Console Admin
sn: Admin
userPassword: $OTP

dn: cn=hrsync-admins,ou=console,$LDAP_BASE_DN
objectClass: groupOfNames
cn: hrsync-admins
member: uid=admin,ou=console,$LDAP_BASE_DN
LDIF
  PORT=8750
  (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && PORT=$(free_port)
  cat >> "$WORK/hrsync.toml" <<TOML

# The daemon and its web console (added by demo.sh --console).
[server]
listen = "127.0.0.1:$PORT"

[server.auth]
url = "$LDAPS_URL"
ca_cert = "$LDAP_CA_CERT"
bind_dn = "$LDAP_BIND_DN"
bind_password = { env = "LDAP_BIND_PW" }
user_base = "ou=console,$LDAP_BASE_DN"
groups = { admin = ["cn=hrsync-admins,ou=console,$LDAP_BASE_DN"] }
TOML
  "$BIN/hrsync" check "${CFG[@]}" >/dev/null
  "$BIN/hrsync" serve "${CFG[@]}" >"$WORK/serve.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "hrsync serve did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
  step "the web console is up"
  echo "  URL:       http://127.0.0.1:$PORT/console/"
  echo "  user:      admin"
  echo "  password:  $OTP   (one-time: the account lives in this demo's throwaway directory)"
  echo "  HR:        the IceHrm emulator at $HR (token in \$ICEHRM_TOKEN of this shell only)"
  echo "  From another machine: ssh -L $PORT:127.0.0.1:$PORT this-host, then open the URL."
  echo "  Ctrl-C stops the console, the emulator and the directory."
  stop_console() { kill -TERM "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; }
  trap 'stop_console; cleanup' EXIT INT TERM
  if [ -n "${CONSOLE_FOR:-}" ]; then sleep "$CONSOLE_FOR"; else wait "$SERVE_PID"; fi
  exit 0
fi

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

if [ "$AD" = 1 ]; then
  step "Active Directory: the leaver is disabled (userAccountControl 514) in OU=Disabled Users; the joiner is in the OU of its department"
  ldapsearch "${A[@]}" -LLL -b "$HRBASE" \
    '(|(employeeID=EMP09001)(userAccountControl:1.2.840.113556.1.4.803:=2))' distinguishedName userAccountControl department memberOf
  step "initial passwords were delivered to a 0600 file (not shown here): $(stat -c '%a' "$WORK/initial-passwords.jsonl"), $(wc -l < "$WORK/initial-passwords.jsonl") account(s)"
  ldapdelete "${A[@]}" -r "$HRBASE" >/dev/null 2>&1 || true
else
  step "the directory: the leaver is locked (ppolicy), the joiner exists"
  ldapsearch -x -LLL -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PW" -b "$LDAP_BASE_DN" \
    '(|(pwdAccountLockedTime=*)(employeeNumber=EMP09001))' cn departmentNumber pwdAccountLockedTime
fi
echo
echo "demo finished; stopping what it started" >&2
