#!/usr/bin/env bash
# bench.sh [N=20000] — syncs N emulated IceHrm employees into a fresh slapd and prints:
# fetch / map / snapshot / plan / apply times, creates per second, the no-op re-run time (the
# first right after the apply, and the median of NOOPS=5 such runs), peak RSS of each hrsync
# run, and the reference: raw `ldapadd` of the same entries (as LDIF, one
# client) into the same server. NOSYNC=1 runs slapd without fsync (default: fsync on).
# Loopback only; stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N=${1:-20000}
# How many no-op runs (the first right after the apply, the rest right after it); at least 1.
NOOPS=${NOOPS:-5}
[ "$NOOPS" -ge 1 ] 2>/dev/null || NOOPS=1
scripts/install-deps.sh
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get install -y -qq time >/dev/null 2>&1 || true; }
ensure_cargo
echo "== building (release)" >&2
cargo build --quiet --release --bins
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release

WORK=$(mktemp -d /tmp/hrsync-bench.XXXXXX)
trap 'stop_stack "$WORK"' EXIT INT TERM
NOSYNC=${NOSYNC:-0} start_stack "$BIN" "$WORK" "$N" 7
sed -i -e "s#^page_size = 100 .*#page_size = 1000#" -e "s#^path = \"hrsync.db\"#path = \"$WORK/state.db\"#" "$WORK/hrsync.toml"

# run LABEL ARGS… : runs hrsync with --json, keeps the report in $WORK/LABEL.json and peak RSS.
run() {
  local label=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$WORK/$label.rss" "$BIN/hrsync" "$@" -c "$WORK/hrsync.toml" --json >"$WORK/$label.json"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}' >"$WORK/$label.wall"
}
echo "== hrsync apply of $N employees (fsync $([ "${NOSYNC:-0}" = 1 ] && echo off || echo on))" >&2
run first apply --yes
echo "== hrsync no-op re-run (plan), then $((NOOPS - 1)) more (the machine's speed drifts: the median is the figure)" >&2
run noop plan
for i in $(seq 2 "$NOOPS"); do run "noop$i" plan; done

echo "== reference: ldapadd of the same entries (one client, same server)" >&2
ldapsearch -x -LLL -o ldif-wrap=no -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PW" \
  -b "ou=people,$LDAP_BASE_DN" '(employeeNumber=*)' '*' >"$WORK/entries.ldif"
sed -e "s/,ou=people,$LDAP_BASE_DN\$/,ou=ref,$LDAP_BASE_DN/" "$WORK/entries.ldif" >"$WORK/ref.ldif"
printf 'dn: ou=ref,%s\nobjectClass: organizationalUnit\nou: ref\n' "$LDAP_BASE_DN" \
  | ldapadd -x -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PW" >/dev/null
REF=$(grep -c '^dn: ' "$WORK/ref.ldif")
t0=$(date +%s.%N)
ldapadd -x -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PW" -f "$WORK/ref.ldif" >/dev/null
t1=$(date +%s.%N)

python3 - "$WORK" "$N" "$REF" "$t0" "$t1" "$NOOPS" <<'PY'
import json, statistics, sys
w, n, ref, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
noops = int(sys.argv[6])
def load(l):
    r = json.load(open(f"{w}/{l}.json"))
    return r, float(open(f"{w}/{l}.wall").read()), int(open(f"{w}/{l}.rss").read().strip().splitlines()[-1])
first, fwall, frss = load("first")
noop, nwall, nrss = load("noop")
t = first["timings"]
creates = first["applied_ok"]
apply_s = t["apply_ms"] / 1000
ours = creates / apply_s if apply_s else 0
ref_rate = ref / (t1 - t0)
print(f"employees            {n}")
print(f"fetch                {t['fetch_ms']/1000:.2f} s  ({first['plan']['fetch']['pages']} pages)")
print(f"map                  {t['map_ms']/1000:.2f} s")
print(f"snapshot             {t['snapshot_ms']/1000:.2f} s")
print(f"plan                 {t['plan_ms']/1000:.2f} s")
print(f"apply                {apply_s:.2f} s  ({creates} creates, {first['applied_failed']} failed)")
print(f"creates/s            {ours:.0f}")
print(f"ldapadd reference    {ref_rate:.0f} entries/s ({ref} entries, one client)")
print(f"ratio vs ldapadd     {ours/ref_rate:.2f}x")
print(f"first run wall       {fwall:.2f} s, peak RSS {frss/1024:.0f} MB")
nt = noop["timings"]
print(f"no-op re-run wall    {nwall:.2f} s (fetch {nt['fetch_ms']/1000:.2f}, snapshot {nt['snapshot_ms']/1000:.2f}, plan {nt['plan_ms']/1000:.2f}), changes {len(noop['plan']['changes'])}, status {noop.get('status')}, peak RSS {nrss/1024:.0f} MB")
runs = [load("noop")] + [load(f"noop{i}") for i in range(2, noops + 1)]
for r, _, _ in runs:
    if r["plan"]["changes"] or r.get("status") != "ok":
        print(f"warning: a no-op run planned {len(r['plan']['changes'])} change(s), status {r.get('status')}")
walls = sorted(x for _, x, _ in runs)
med = statistics.median(walls)
print(f"no-op runs           {len(walls)}: median {med:.2f} s (min {walls[0]:.2f}, max {walls[-1]:.2f}), peak RSS max {max(m for _, _, m in runs)/1024:.0f} MB")
print("BENCHMARKS.md row:")
print(f"| {n} | {ours:.0f} ({ref_rate:.0f}, {ours/ref_rate:.2f}x) | {fwall:.1f} s, {frss/1024:.0f} MB | "
      f"{t['fetch_ms']/1000:.2f} / {t['map_ms']/1000:.2f} / {t['snapshot_ms']/1000:.2f} / {t['plan_ms']/1000:.2f} / {apply_s:.2f} | "
      f"{nwall:.2f} s, {nrss/1024:.0f} MB; median of {len(walls)}: {med:.2f} s ({walls[0]:.2f}–{walls[-1]:.2f}) | {nt['fetch_ms']/1000:.2f} / {nt['snapshot_ms']/1000:.2f} / {nt['plan_ms']/1000:.2f} |")
PY
