#!/usr/bin/env bash
# bench-console.sh [PEOPLE=100000] [RUNS=20] — how fast the web console renders over a large
# audit: seeds a state database with PEOPLE people's audit rows (apply runs of 1,000 changes
# over three mappings, one person in five also updated: 1.2 × PEOPLE rows, written through
# hrsync-state's own API by the bench_console_seed example), starts `hrsync serve` with a
# break-glass sign-in, signs in to the console, and times with curl (RUNS requests each, the
# median printed, and the slowest):
#   - GET /console/                        the dashboard
#   - GET /console/runs                    runs and the audit's first page
#   - GET /console/runs?person=…           one person's audit
#   - GET /console/runs?kind=update&mapping=staff   a filtered page
#   - GET /console/runs?result=failed      the failures
#   - GET /console/runs?cursor=…           a deep page (half-way down the audit, reached by
#                                          walking the API's next_cursor)
#   - GET /console/people/staff/…          a person's page
# The directory and HR are never contacted. CARGO_TARGET_DIR as cargo reads it (default
# ./target). Loopback only; stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
PEOPLE=${1:-100000}
RUNS=${2:-20}
ensure_cargo
echo "== building (release)" >&2
cargo build --quiet --release -p hrsync -p hrsync-server --bin hrsync --example bench_console_seed
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release

WORK=$(mktemp -d /tmp/hrsync-bench-console.XXXXXX)
SERVE_PID=
cleanup() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "== seeding $PEOPLE people's audit rows" >&2
t0=$(date +%s.%N)
"$BIN/examples/bench_console_seed" "$WORK/state.db" "$PEOPLE" >&2
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN{printf "   (%.1f s)\n", b-a}' >&2

PW="bench-$(openssl rand -hex 12)"
HASH=$(printf '%s\n' "$PW" | "$BIN/hrsync" token hash-password)
PORT=$(free_port)
printf 'nowhere\n' >"$WORK/bind.pw"
printf 'id,first,last\n1,Ada,Lovelace\n' >"$WORK/people.csv"
{
  cat <<CFG
[state]
path = "$WORK/state.db"

[server]
listen = "127.0.0.1:$PORT"

[server.auth]
groups = { viewer = ["cn=viewers,dc=example,dc=com"] }
break_glass = { user = "bench", password_hash = "$HASH" }

[[integration]]
name = "hr"
kind = "csv"
path = "people.csv"

[directory]
kind = "openldap"
url = "ldaps://127.0.0.1:1"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { file = "bind.pw" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"
object_classes = ["inetOrgPerson"]
key_attribute = "employeeNumber"
CFG
  for m in staff contractors interns; do
    cat <<CFG

[[mapping]]
name = "$m"
integration = "hr"
endpoint = "rows"
primary_key = "id"
rdn_attribute = "uid"

[mapping.attributes]
uid = "{id}"
cn = "{first} {last}"
sn = "{last}"
CFG
  done
} >"$WORK/hrsync.toml"

echo "== hrsync serve on 127.0.0.1:$PORT" >&2
"$BIN/hrsync" serve -c "$WORK/hrsync.toml" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
H="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do curl -fs "$H/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$H/healthz" >/dev/null || { echo "the daemon did not start; see below" >&2; cat "$WORK/serve.log" >&2; exit 1; }

echo "== signing in to the console" >&2
JAR="$WORK/jar"
code=$(curl -s -c "$JAR" -o /dev/null -w '%{http_code}' --data-urlencode "user=bench" \
  --data-urlencode "password=$PW" --data-urlencode "next=/console/" "$H/console/login")
[ "$code" = 303 ] || { echo "sign-in answered $code" >&2; exit 1; }

# A deep cursor: half-way down the audit, by the API's own next_cursor (500 rows a page).
echo "== walking the audit to its middle for a deep cursor" >&2
HALF=$((PEOPLE * 6 / 10))
CURSOR=
walked=0
while [ "$walked" -lt "$HALF" ]; do
  CURSOR=$(curl -fs -b "$JAR" "$H/api/v1/audit?limit=500${CURSOR:+&cursor=$CURSOR}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin).get("next_cursor") or "")')
  [ -n "$CURSOR" ] || break
  walked=$((walked + 500))
done
[ -n "$CURSOR" ] || { echo "the audit has no next page after $walked rows" >&2; exit 1; }

MID=$(printf 'E%06d' $((PEOPLE / 2)))
# time_page LABEL PATH: RUNS timed GETs (after one warm-up), each checked for 200 and for rows.
time_page() {
  local label=$1 path=$2 out="$WORK/times.$1" code t
  : >"$out"
  curl -s -b "$JAR" -o "$WORK/page.$label.html" "$H$path"
  for _ in $(seq 1 "$RUNS"); do
    read -r code t < <(curl -s -b "$JAR" -o /dev/null -w '%{http_code} %{time_total}\n' "$H$path")
    [ "$code" = 200 ] || { echo "$path answered $code" >&2; exit 1; }
    echo "$t" >>"$out"
  done
  python3 - "$label" "$path" "$out" "$WORK/page.$label.html" <<'PY'
import statistics, sys
label, path, out, page = sys.argv[1:5]
ts = [float(x) * 1000 for x in open(out).read().split()]
body = open(page, encoding="utf-8").read()
rows = body.count("data-audit-row=")
size = len(body.encode())
print(f"{label:<14} median {statistics.median(ts):7.1f} ms   max {max(ts):7.1f} ms   ({rows} audit rows, {size/1024:.0f} KiB)  {path}")
PY
}

echo "== timing ($RUNS requests each; $PEOPLE people, $((PEOPLE + PEOPLE / 5)) audit rows)" >&2
time_page dashboard "/console/"
time_page runs "/console/runs"
time_page person "/console/runs?person=$MID"
time_page filtered "/console/runs?kind=update&mapping=staff"
time_page failed "/console/runs?result=failed"
time_page deep "/console/runs?cursor=$CURSOR"
time_page person-page "/console/people/staff/$(printf 'E%06d' 3)"
