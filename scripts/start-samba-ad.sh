#!/usr/bin/env bash
# start-samba-ad.sh WORKDIR — provisions a throwaway Samba Active Directory domain controller
# (Debian 12 packages) into WORKDIR and runs it as a plain foreground process bound to
# 127.0.0.1 only. Nothing under /etc/samba, /var/lib/samba or /run/samba is used.
#
# Samba's LDAP ports are fixed (389, 636, 3268, 3269): one DC per machine at a time; tests
# share it and each works in its own OU.
#
# Environment (optional):
#   ADMINPASS      administrator password (random by default; it meets AD complexity)
#   STRONG_AUTH    'ldap server require strong auth' (default yes, as on a real DC: simple
#                  binds only over LDAPS/StartTLS)
#   NOSYNC=1       'ldb:nosync = true' (no fsync; tests/bench only)
#   COMPLEXITY=on  keep password complexity on (default on, like a real domain)
#
# Writes WORKDIR/env (AD_LDAP_URL AD_LDAPS_URL AD_BIND_DN AD_BIND_PW AD_BASE_DN AD_CA_CERT
# AD_REALM SAMBA_PID) and WORKDIR/samba.pid; stop it with stop-samba-ad.sh WORKDIR.
set -euo pipefail
WORKDIR=${1:?usage: start-samba-ad.sh WORKDIR}
REALM=${REALM:-EXAMPLE.TEST}
DOMAIN=${DOMAIN:-EXAMPLE}
DC=${DC:-dc1}
ADMINPASS=${ADMINPASS:-Adm1n-$(openssl rand -hex 10)!}
STRONG_AUTH=${STRONG_AUTH:-yes}
NOSYNC=${NOSYNC:-0}
COMPLEXITY=${COMPLEXITY:-on}
IP=127.0.0.1

need=()
[ -x /usr/sbin/samba ] || need+=(samba samba-ad-dc samba-dsdb-modules winbind)
command -v ldapsearch >/dev/null 2>&1 || need+=(ldap-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  echo "start-samba-ad: apt-get install ${need[*]}" >&2
  apt-get update -qq >/dev/null 2>&1 || echo "start-samba-ad: apt-get update failed; continuing with the package lists on this machine" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
if [ -f "$WORKDIR/samba.pid" ] && kill -0 "$(cat "$WORKDIR/samba.pid")" 2>/dev/null; then
  echo "start-samba-ad: already running in $WORKDIR (pid $(cat "$WORKDIR/samba.pid"))" >&2; exit 1
fi
# Samba cannot move its ports: refuse early and clearly if something holds 636.
if (exec 3<>/dev/tcp/$IP/636) 2>/dev/null; then
  echo "start-samba-ad: something already listens on $IP:636 (another DC?); stop it first" >&2; exit 1
fi
rm -rf "$WORKDIR"/{etc,private,state,cache,bind-dns,run,log,tls}
mkdir -p "$WORKDIR"/{run,log,tls}

# A certificate with IP:127.0.0.1 in its SAN, so clients verify the DC by address.
FQDN="$DC.$(echo "$REALM" | tr 'A-Z' 'a-z')"
"$(dirname "$0")/make-tls.sh" "$WORKDIR/tls" "$FQDN" "DNS:$FQDN,DNS:localhost,IP:$IP"

# An empty base config keeps Debian's /etc/samba/smb.conf out of the generated one, and every
# path Samba would otherwise put under /run or /var is set inside WORKDIR.
: > "$WORKDIR/empty.conf"
samba-tool domain provision -s "$WORKDIR/empty.conf" --targetdir="$WORKDIR" \
  --realm="$REALM" --domain="$DOMAIN" --server-role=dc --dns-backend=NONE \
  --host-name="$DC" --host-ip="$IP" --adminpass="$ADMINPASS" --use-rfc2307 \
  --backend-store=tdb \
  --option="interfaces=lo" --option="bind interfaces only=yes" \
  --option="server services=ldap cldap kdc" \
  --option="pid directory=$WORKDIR/run" --option="ncalrpc dir=$WORKDIR/run/ncalrpc" \
  --option="winbindd socket directory=$WORKDIR/run/winbindd" \
  --option="ntp signd socket directory=$WORKDIR/run/ntp_signd" \
  --option="log file=$WORKDIR/log/log.%m" --option="logging=file" --option="log level=1" \
  --option="tls enabled=yes" --option="tls keyfile=$WORKDIR/tls/key.pem" \
  --option="tls certfile=$WORKDIR/tls/cert.pem" --option="tls cafile=$WORKDIR/tls/ca.pem" \
  >"$WORKDIR/log/provision.log" 2>&1 || { tail -30 "$WORKDIR/log/provision.log" >&2; exit 1; }
CONF="$WORKDIR/etc/smb.conf"
# provision drops these --option values silently: add them to [global] afterwards.
sed -i "s/^\\[global\\]\$/[global]\\n\\tldap server require strong auth = $STRONG_AUTH/" "$CONF"
[ "$NOSYNC" = 1 ] && sed -i "s/^\\[global\\]\$/[global]\\n\\tldb:nosync = true/" "$CONF"
# No password history or minimum age, so tests can reset passwords freely; complexity stays.
samba-tool domain passwordsettings set -s "$CONF" --complexity="$COMPLEXITY" \
  --history-length=0 --min-pwd-age=0 --max-pwd-age=0 >/dev/null

# Foreground (-i) so $! is the master; SIGTERM to it stops the whole pre-fork tree.
KRB5_CONFIG="$WORKDIR/private/krb5.conf" \
  samba -i -M prefork -s "$CONF" </dev/null >"$WORKDIR/log/samba.out" 2>&1 &
PID=$!
echo "$PID" > "$WORKDIR/samba.pid"

BASE=$(echo "$REALM" | tr 'A-Z' 'a-z' | sed 's/^/DC=/; s/\./,DC=/g')
BINDDN="CN=Administrator,CN=Users,$BASE"
ready=0
for _ in $(seq 1 600); do
  kill -0 "$PID" 2>/dev/null || { echo "start-samba-ad: samba died:" >&2; tail -30 "$WORKDIR/log/samba.out" >&2; exit 1; }
  if LDAPTLS_CACERT="$WORKDIR/tls/ca.pem" ldapsearch -x -H "ldaps://$IP" \
       -D "$BINDDN" -w "$ADMINPASS" -b "$BASE" -s base dn >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 0.1
done
[ "$ready" = 1 ] || { echo "start-samba-ad: not ready after 60 s" >&2; tail -30 "$WORKDIR/log/samba.out" >&2; exit 1; }

umask 077
cat > "$WORKDIR/env" <<ENV
export AD_LDAP_URL=ldap://$IP
export AD_LDAPS_URL=ldaps://$IP
export AD_BIND_DN='$BINDDN'
export AD_BIND_PW='$ADMINPASS'
export AD_BASE_DN='$BASE'
export AD_CA_CERT=$WORKDIR/tls/ca.pem
export AD_REALM=$REALM
export SAMBA_PID=$PID
ENV
echo "samba AD DC pid $PID on ldaps://$IP (realm $REALM, base $BASE), env in $WORKDIR/env" >&2
