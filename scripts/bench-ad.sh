#!/usr/bin/env bash
# bench-ad.sh [N=2000] — syncs N emulated IceHrm employees into Active Directory (a Samba AD DC)
# and prints: hrsync's creates per second (with initial passwords), its stage times and peak
# RSS, the no-op re-run time, and two references made with `ldapadd` (one client, LDAPS) of the
# same entries on the same DC: plain adds (disabled accounts, no password) and adds that carry a
# password (unicodePwd, enabled accounts).
#
# hrsync always sets an initial password on the AD accounts it creates (there is no
# password-less create mode: an account is added disabled, gets its unicodePwd, the password is
# delivered to the passwords file, then it is enabled and pwdLastSet = 0), so the
# "without passwords" figure is the ldapadd reference only.
#
# The DC: AD_ENV=/path/to/env (written by scripts/start-samba-ad.sh) uses a DC that already
# runs; otherwise a fresh one is started in the work directory (NOSYNC=1: no fsync) and stopped
# at exit. Samba's LDAP ports are fixed, so only one DC can run per machine: when one is
# running, pass its env file. The DC may be shared: everything happens in fresh OUs
# (OU=bench-…,base) that are deleted at the end (tombstones remain), and sAMAccountNames carry a
# random tag. Loopback only; stops what it starts, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh disable=SC1091
. scripts/lib.sh
N=${1:-2000}
scripts/install-deps.sh
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get install -y -qq time >/dev/null 2>&1 || true; }
command -v python3 >/dev/null 2>&1 || { echo "bench-ad: python3 is needed (LDIF and report)" >&2; exit 1; }
ensure_cargo
echo "== building (release)" >&2
cargo build --quiet --release --bins
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release

WORK=$(mktemp -d /tmp/hrsync-bench-ad.XXXXXX)   # 0700: the passwords file lives here
STARTED_DC=0
EMU_PID=
OUS=()          # bench OUs created on the DC, deleted at exit

# ldap TOOL ARGS…: an OpenLDAP client bound as the DC's administrator over LDAPS.
# shellcheck disable=SC2153  # AD_* come from the DC's env file
ldap() {
  local tool=$1; shift
  LDAPTLS_CACERT=$AD_CA_CERT "$tool" -x -H "$AD_LDAPS_URL" -D "$AD_BIND_DN" -y "$WORK/bind.pw" "$@"
}

# drop_ou DN: deletes the OU and everything below it. The tree-delete control (one request, done
# by the DC) first; if the DC refuses it, `ldapdelete -r` (the client walks the subtree).
drop_ou() {
  ldap ldapdelete -e '!1.2.840.113556.1.4.805' "$1" >/dev/null 2>&1 \
    || ldap ldapdelete -r "$1" >/dev/null 2>&1
}

cleanup() {
  local rc=$? ou
  trap - EXIT INT TERM
  if [ -n "$EMU_PID" ] && kill -0 "$EMU_PID" 2>/dev/null; then
    kill -TERM "$EMU_PID"; wait "$EMU_PID" 2>/dev/null || true
  fi
  if [ "$STARTED_DC" = 1 ]; then
    scripts/stop-samba-ad.sh "$WORK/ad" --purge >/dev/null 2>&1 || true
  elif [ ${#OUS[@]} -gt 0 ]; then
    for ou in "${OUS[@]}"; do drop_ou "$ou" || echo "bench-ad: could not delete $ou" >&2; done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the domain controller
if [ -n "${AD_ENV:-}" ]; then
  [ -f "$AD_ENV" ] || { echo "bench-ad: AD_ENV=$AD_ENV: no such file" >&2; exit 1; }
  # shellcheck disable=SC1090
  . "$AD_ENV"
  echo "== using the running DC from $AD_ENV ($AD_LDAPS_URL, $AD_BASE_DN)" >&2
else
  echo "== starting a Samba AD DC (fsync $([ "${NOSYNC:-0}" = 1 ] && echo off || echo on))" >&2
  STARTED_DC=1
  NOSYNC=${NOSYNC:-0} scripts/start-samba-ad.sh "$WORK/ad"
  # shellcheck disable=SC1091
  . "$WORK/ad/env"
fi
export AD_BIND_PW
: "${AD_LDAPS_URL:?}" "${AD_BIND_DN:?}" "${AD_BIND_PW:?}" "${AD_BASE_DN:?}" "${AD_CA_CERT:?}" "${AD_REALM:?}"
REALM=$(echo "$AD_REALM" | tr '[:upper:]' '[:lower:]')
( umask 077; printf '%s' "$AD_BIND_PW" >"$WORK/bind.pw" )   # -y: not in the process list

# Fresh OUs, unique per run; sAMAccountNames are unique in the whole domain, so every account
# carries TAG (b + 4 hex digits): TAG-emp00001 (hrsync), TAGp-… (plain adds), TAGw-… (with
# password): at most 16 characters up to 99999 employees (AD allows 20).
TAG=b$(openssl rand -hex 2)
RUN=bench-$$-$TAG
OU_H="OU=$RUN,$AD_BASE_DN";        PEOPLE="OU=People,$OU_H"
OU_P="OU=$RUN-plain,$AD_BASE_DN"
OU_W="OU=$RUN-passwd,$AD_BASE_DN"
for ou in "$OU_H" "$PEOPLE" "$OU_P" "$OU_W"; do
  printf 'dn: %s\nobjectClass: organizationalUnit\n' "$ou" | ldap ldapadd >/dev/null
  case $ou in OU=People,*) ;; *) OUS+=("$ou") ;; esac
done

# --- the HR side
ICEHRM_TOKEN=$("$BIN/hrsync-emulator" icehrm-token --secret "bench-$$-$RANDOM")
export ICEHRM_TOKEN
HR_PORT=$(free_port)
"$BIN/hrsync-emulator" icehrm --port "$HR_PORT" --employees "$N" --seed 7 \
  --token-env ICEHRM_TOKEN >"$WORK/emulator.log" 2>&1 &
EMU_PID=$!
HR="http://127.0.0.1:$HR_PORT/app/api"
for _ in $(seq 1 600); do curl -fs "$HR/echo" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$HR/echo" >/dev/null || { echo "the emulator did not start:" >&2; cat "$WORK/emulator.log" >&2; exit 1; }

cat >"$WORK/hrsync.toml" <<TOML
[state]
path = "$WORK/state.db"

[[integration]]
name = "icehrm"
kind = "icehrm"
base_url = "$HR"
token = { env = "ICEHRM_TOKEN" }
page_size = 1000

[directory]
kind = "active_directory"
url = "$AD_LDAPS_URL"
ca_cert = "$AD_CA_CERT"
bind_dn = "$AD_BIND_DN"
bind_password = { env = "AD_BIND_PW" }
base_dn = "$OU_H"
users_ou = "$PEOPLE"
page_size = 1000

[directory.passwords]
file = "$WORK/pw.jsonl"
must_change = true

[[mapping]]
name = "bench"
integration = "icehrm"
primary_key = "employee_id"
rdn_attribute = "cn"

[mapping.attributes]
cn = { format = "{first_name} {last_name} {employee_id}", required = true }   # unique: the generator repeats names
sAMAccountName = { format = "$TAG-{employee_id|lower}", required = true }
userPrincipalName = "$TAG-{employee_id|lower}@$REALM"
givenName = "{first_name}"
sn = { format = "{last_name}", required = true }
displayName = "{first_name} {last_name}"
mail = "{work_email}"
department = "{department.display}"
title = "{job_title.display}"
TOML

# run LABEL ARGS…: runs hrsync with --json, keeps the report in $WORK/LABEL.json, the wall time
# in LABEL.wall and the peak RSS (KB) in LABEL.rss (empty without /usr/bin/time).
run() {
  local label=$1; shift
  local t0 t1 rc=0
  local timer=()
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -f '%M' -o "$WORK/$label.rss")
  : >"$WORK/$label.rss"
  t0=$(date +%s.%N)
  "${timer[@]}" "$BIN/hrsync" "$@" -c "$WORK/hrsync.toml" --json >"$WORK/$label.json" || rc=$?
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}' >"$WORK/$label.wall"
  [ "$rc" = 0 ] || { echo "bench-ad: hrsync $* failed (exit $rc)" >&2; return "$rc"; }
}
echo "== hrsync apply of $N employees into $PEOPLE (passwords on)" >&2
run first apply --yes
echo "== hrsync no-op re-run (plan)" >&2
run noop plan
"$BIN/hrsync" runs -c "$WORK/hrsync.toml" --json --limit 5 >"$WORK/runs.json"
"$BIN/hrsync" audit -c "$WORK/hrsync.toml" --json --limit 1000000 >"$WORK/audit.json"

# --- references: ldapadd of the very entries hrsync created (from its plan), one client, LDAPS
python3 - "$WORK" "$PEOPLE" "$OU_P" "$OU_W" "$TAG" "$REALM" <<'PY'
import base64, json, sys
w, people, ou_p, ou_w, tag, realm = sys.argv[1:]
report = json.load(open(f"{w}/first.json"))
creates = [c for c in report["plan"]["changes"] if c["kind"] == "create"]

def line(attr, value):
    safe = value.isascii() and value.isprintable() and value[:1] not in (" ", ":", "<") \
        and not value.endswith(" ")
    if safe:
        return f"{attr}: {value}\n"
    return f"{attr}:: {base64.b64encode(value.encode()).decode()}\n"

def ldif(ou, kind):
    out = []
    for i, c in enumerate(creates, 1):
        assert c["dn"].endswith("," + people), c["dn"]
        rdn = c["dn"][: -len(people) - 1]
        attrs = {a["attr"]: a["after"] for a in c["attrs"] if a["after"]}
        eid = attrs["employeeID"][0]
        sam = f"{tag}{kind}-{eid.lower()}"
        attrs["sAMAccountName"] = [sam]
        attrs["userPrincipalName"] = [f"{sam}@{realm}"]
        e = line("dn", f"{rdn},{ou}") + "objectClass: top\nobjectClass: person\n" \
            "objectClass: organizationalPerson\nobjectClass: user\n"
        for a in sorted(attrs):
            for v in attrs[a]:
                e += line(a, v)
        if kind == "w":
            pw = f'"Bench-Passw0rd!{i}"'.encode("utf-16-le")
            e += f"unicodePwd:: {base64.b64encode(pw).decode()}\nuserAccountControl: 512\n"
        else:
            e += "userAccountControl: 514\n"
        out.append(e)
    return "\n".join(out)

open(f"{w}/plain.ldif", "w").write(ldif(ou_p, "p"))
open(f"{w}/passwd.ldif", "w").write(ldif(ou_w, "w"))
PY

# ref LABEL FILE OU: times `ldapadd -c -f FILE`, counts its errors and the users under OU.
ref() {
  local label=$1 file=$2 ou=$3 t0 t1 rc=0
  t0=$(date +%s.%N)
  ldap ldapadd -c -f "$file" >/dev/null 2>"$WORK/$label.err" || rc=$?
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}' >"$WORK/$label.wall"
  grep -c '^ldap_add: ' "$WORK/$label.err" >"$WORK/$label.errors" || true
  ldap ldapsearch -LLL -E pr=1000/noprompt -b "$ou" -s one '(objectClass=user)' dn 2>/dev/null \
    | grep -c '^dn:' >"$WORK/$label.count" || true
  if [ "$rc" != 0 ] || [ "$(cat "$WORK/$label.errors")" != 0 ]; then
    echo "bench-ad: ldapadd ($label) exit $rc, $(cat "$WORK/$label.errors") errors; first ones:" >&2
    head -5 "$WORK/$label.err" >&2
  fi
}
echo "== reference: ldapadd without passwords (disabled accounts, userAccountControl 514)" >&2
ref plain "$WORK/plain.ldif" "$OU_P"
echo "== reference: ldapadd with passwords (unicodePwd, userAccountControl 512)" >&2
ref passwd "$WORK/passwd.ldif" "$OU_W"
# A password set by the reference works: bind as its first account.
FIRST_SAM=$(grep -m1 '^sAMAccountName: ' "$WORK/passwd.ldif" | cut -d' ' -f2)
# (a bind, then a read of the root DSE: AD has no "Who am I?" extended operation)
if LDAPTLS_CACERT=$AD_CA_CERT ldapsearch -x -H "$AD_LDAPS_URL" -D "$FIRST_SAM@$REALM" \
     -w 'Bench-Passw0rd!1' -b '' -s base dn >/dev/null 2>&1; then BIND_OK=yes; else BIND_OK=no; fi

echo "== deleting the bench OUs" >&2
t0=$(date +%s.%N)
for ou in "${OUS[@]}"; do drop_ou "$ou" || echo "bench-ad: could not delete $ou" >&2; done
t1=$(date +%s.%N)
OUS=()
awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}' >"$WORK/cleanup.wall"

# Which DC, and whether it fsyncs (start-samba-ad.sh NOSYNC=1 writes ldb:nosync to its smb.conf).
if [ "$STARTED_DC" = 1 ]; then DC_DIR=$WORK/ad; DC_DESC="fresh DC"; else DC_DIR=$(dirname "$AD_ENV"); DC_DESC="DC from $AD_ENV"; fi
if [ ! -f "$DC_DIR/etc/smb.conf" ]; then DC_DESC+=", fsync unknown"
elif grep -q 'ldb:nosync = true' "$DC_DIR/etc/smb.conf"; then DC_DESC+=", fsync off"
else DC_DESC+=", fsync on"; fi

python3 - "$WORK" "$N" "$BIND_OK" "$DC_DESC" <<'PY'
import json, sys
w, n, bind_ok, dc = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rd = lambda f: open(f"{w}/{f}").read().strip()
def load(l):
    rss = rd(f"{l}.rss").splitlines()
    return json.load(open(f"{w}/{l}.json")), float(rd(f"{l}.wall")), (int(rss[-1]) if rss else None)
mb = lambda kb: f", peak RSS {kb/1024:.0f} MB" if kb else ""
first, fwall, frss = load("first")
noop, nwall, nrss = load("noop")
runs = json.load(open(f"{w}/runs.json"))
audit = json.load(open(f"{w}/audit.json"))
apply_run = next(r for r in runs if r["id"] == first["run_id"])
failed_audit = [a for a in audit if a["run_id"] == first["run_id"] and not a["ok"]]
t = first["timings"]
creates = sum(1 for c in first["plan"]["changes"] if c["kind"] == "create")
findings = len(first["plan"]["findings"])
ok, failed = first["applied_ok"], first["applied_failed"]
apply_s = t["apply_ms"] / 1000
rate_wall = ok / fwall if fwall else 0
rate_stage = ok / apply_s if apply_s else 0
refs = {}
for l in ("plain", "passwd"):
    wall = float(rd(f"{l}.wall"))
    refs[l] = (int(rd(f"{l}.count")), int(rd(f"{l}.errors")), wall)
def ref_line(l):
    cnt, err, wall = refs[l]
    return f"{cnt/wall:7.0f} adds/s  ({cnt} of {creates} added, {err} errors, {wall:.2f} s)"
pw_rate = refs["passwd"][0] / refs["passwd"][2]
nchanges = len(noop["plan"]["changes"])
nt = noop["timings"]
problems = []
if failed or failed_audit or apply_run["status"] != "ok":
    problems.append(f"hrsync: {failed} failed changes, run status {apply_run['status']}; "
                    + "; ".join(f"{a['hr_key']} {a['dn']}: {a['message']}" for a in failed_audit[:3]))
if ok != creates:
    problems.append(f"hrsync: {ok} changes ok but {creates} creates planned")
if nchanges:
    problems.append(f"hrsync: the re-run still plans {nchanges} changes")
for l in refs:
    cnt, err, _ = refs[l]
    if cnt != creates or err:
        problems.append(f"ldapadd {l}: {cnt} of {creates} entries, {err} errors")
if bind_ok != "yes":
    problems.append("ldapadd with passwords: the first account could not bind with its password")

print()
print(f"Active Directory benchmark ({dc}; LDAPS, 2 cores shared by emulator, DC and clients)")
records = first["plan"]["fetch"]["records"]
print(f"employees (HR)                  {n}  ({records} fetched: {creates} creates planned, {findings} findings, "
      f"{records - creates - findings} terminated without an account: nothing to do)")
print(f"hrsync apply, with passwords    {rate_wall:7.0f} creates/s  ({ok} ok, {failed} failed, wall {fwall:.2f} s{mb(frss)})")
print(f"  stages                        fetch {t['fetch_ms']/1000:.2f} s, snapshot {t['snapshot_ms']/1000:.2f} s, "
      f"map {t['map_ms']/1000:.2f} s, plan {t['plan_ms']/1000:.2f} s, apply {apply_s:.2f} s ({rate_stage:.0f} creates/s)")
print(f"hrsync no-op re-run (plan)      {nwall:7.2f} s  ({nchanges} changes; fetch {nt['fetch_ms']/1000:.2f} s, "
      f"snapshot {nt['snapshot_ms']/1000:.2f} s{mb(nrss)})")
print(f"ldapadd, no password (514)      {ref_line('plain')}")
print(f"ldapadd, with password (512)    {ref_line('passwd')}")
print(f"ratio hrsync / ldapadd+password {rate_wall/pw_rate:7.2f}x  (whole hrsync run; apply stage alone: {rate_stage/pw_rate:.2f}x)")
print(f"bench OUs deleted in            {float(rd('cleanup.wall')):7.2f} s")
print("note: hrsync always sets an initial password on the AD accounts it creates (no password-less")
print("      create mode): per account one add (disabled, with unicodePwd), delivery to the passwords")
print("      file, a read of userAccountControl and one modify (enable + pwdLastSet = 0). The")
print("      no-password figure is ldapadd only.")
if problems:
    print("PROBLEMS:")
    for p in problems:
        print("  " + p)
    sys.exit(1)
PY
