#!/usr/bin/env bash
# start-slapd.sh WORKDIR [PORT] — a throwaway OpenLDAP for hrsync's demo, tests and benchmark.
#
# Runs Debian's slapd as a plain process on 127.0.0.1 only, with its own cn=config under
# WORKDIR: back-mdb, suffix $SUFFIX, rootdn + password, schemas core/cosine/nis/inetorgperson,
# the ppolicy overlay (hrsync's "disabled" is a ppolicy lock: pwdAccountLockedTime), LDAPS on
# PORT+247 and StartTLS on PORT with a certificate signed by a throwaway CA (WORKDIR/tls/ca.pem).
# Writes WORKDIR/env (sourceable) and prints it. Stop with stop-slapd.sh WORKDIR (by PID).
#
# Env: SUFFIX (dc=example,dc=com)  ROOTPW (secret)  NOSYNC=1 (no fsync: tests/bench only)
#
# Gotchas handled here: back-mdb and ppolicy are modules in Debian's build (olcModuleLoad);
# schema order core, cosine, nis, inetorgperson; ppolicy 2.5 has its schema built in and the
# policy entry needs applicationProcess+pwdPolicy; the ldapi socket path must be < 108 bytes.
set -euo pipefail

WORKDIR=${1:?usage: start-slapd.sh WORKDIR [PORT]}
PORT=${2:-3389}
LDAPS_PORT=$((PORT + 247))
SUFFIX=${SUFFIX:-dc=example,dc=com}
ROOTPW=${ROOTPW:-secret}
ROOTDN="cn=admin,${SUFFIX}"
NOSYNC=${NOSYNC:-0}
HOST=127.0.0.1
HERE=$(cd "$(dirname "$0")" && pwd)

[ -x /usr/sbin/slapd ] && command -v ldapsearch >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 \
  || "$HERE/install-deps.sh"

mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
if [ -f "$WORKDIR/slapd.pid" ] && kill -0 "$(cat "$WORKDIR/slapd.pid")" 2>/dev/null; then
  echo "slapd already running in $WORKDIR (pid $(cat "$WORKDIR/slapd.pid"))" >&2
  exit 1
fi
rm -rf "$WORKDIR/slapd.d" "$WORKDIR/db" "$WORKDIR/tls"
mkdir -p "$WORKDIR/slapd.d" "$WORKDIR/db" "$WORKDIR/tls"

SOCK="$WORKDIR/ldapi"
if [ ${#SOCK} -gt 100 ]; then SOCK=$(mktemp -u /tmp/slapd-ldapi.XXXXXX); fi
SOCK_URL="ldapi://$(printf '%s' "$SOCK" | sed 's,/,%2F,g')"

"$HERE/make-tls.sh" "$WORKDIR/tls" localhost "DNS:localhost,IP:127.0.0.1"

HASH=$(/usr/sbin/slappasswd -h '{SSHA}' -s "$ROOTPW")
DC1=$(printf '%s' "$SUFFIX" | sed -E 's/^dc=([^,]+).*/\1/')
cat > "$WORKDIR/config.ldif" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $WORKDIR/slapd.pid
olcArgsFile: $WORKDIR/slapd.args
olcLogLevel: 0
olcToolThreads: 2
olcThreads: 16
olcTLSCertificateFile: $WORKDIR/tls/cert.pem
olcTLSCertificateKeyFile: $WORKDIR/tls/key.pem
olcTLSCACertificateFile: $WORKDIR/tls/ca.pem

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcRootDN: cn=config
olcRootPW: $HASH
olcAccess: {0}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $SUFFIX
olcRootDN: $ROOTDN
olcRootPW: $HASH
olcDbDirectory: $WORKDIR/db
olcDbMaxSize: 4294967296
olcDbNoSync: $([ "$NOSYNC" = 1 ] && echo TRUE || echo FALSE)
olcDbCheckpoint: 1024 5
olcDbIndex: objectClass eq
olcDbIndex: entryUUID,entryCSN eq
olcDbIndex: uid,mail,employeeNumber,uidNumber,gidNumber eq
olcDbIndex: cn,sn,givenName eq,sub
olcDbIndex: member,memberUid eq
olcLastMod: TRUE
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by self write by users read by * none

dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {0}ppolicy
olcPPolicyDefault: cn=default,ou=policies,$SUFFIX
olcPPolicyHashCleartext: TRUE
olcPPolicyUseLockout: TRUE
LDIF
/usr/sbin/slapadd -n0 -F "$WORKDIR/slapd.d" -l "$WORKDIR/config.ldif" -q

cat > "$WORKDIR/base.ldif" <<LDIF
dn: $SUFFIX
objectClass: top
objectClass: dcObject
objectClass: organization
dc: $DC1
o: $DC1

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: ou=disabled,$SUFFIX
objectClass: organizationalUnit
ou: disabled

# One OU per example config (examples/*.toml), so the examples can run one after another
# against this directory without touching each other's accounts.
dn: ou=csv,$SUFFIX
objectClass: organizationalUnit
ou: csv

dn: ou=rest,$SUFFIX
objectClass: organizationalUnit
ou: rest

dn: ou=paycor,$SUFFIX
objectClass: organizationalUnit
ou: paycor

dn: ou=service,$SUFFIX
objectClass: organizationalUnit
ou: service

dn: ou=people,ou=service,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=policies,$SUFFIX
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,$SUFFIX
objectClass: applicationProcess
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMinLength: 8
pwdMaxFailure: 5
pwdLockout: TRUE
pwdAllowUserChange: TRUE
LDIF
/usr/sbin/slapadd -n1 -F "$WORKDIR/slapd.d" -l "$WORKDIR/base.ldif" -q

URLS="ldap://$HOST:$PORT/ ldaps://$HOST:$LDAPS_PORT/ $SOCK_URL"
# slapd forks into the background; its PID is written to olcPidFile.
/usr/sbin/slapd -h "$URLS" -F "$WORKDIR/slapd.d" -s 0 >"$WORKDIR/slapd.log" 2>&1 </dev/null || {
  echo "slapd failed to start (port $PORT or $LDAPS_PORT in use?); log:" >&2
  cat "$WORKDIR/slapd.log" >&2
  exit 1
}
ready=0
for _ in $(seq 1 200); do
  if ldapsearch -x -H "ldap://$HOST:$PORT" -D "$ROOTDN" -w "$ROOTPW" -b "$SUFFIX" -s base dn >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 0.05
done
[ "$ready" = 1 ] || { echo "slapd did not become ready; see $WORKDIR/slapd.log" >&2; exit 1; }

cat > "$WORKDIR/env" <<ENV
export LDAP_URL=ldap://$HOST:$PORT
export LDAPS_URL=ldaps://$HOST:$LDAPS_PORT
export LDAPI_URL=$SOCK_URL
export LDAP_BIND_DN='$ROOTDN'
export LDAP_BIND_PW='$ROOTPW'
export LDAP_BASE_DN='$SUFFIX'
export LDAP_CA_CERT=$WORKDIR/tls/ca.pem
export SLAPD_PID=$(cat "$WORKDIR/slapd.pid")
ENV
echo "slapd pid $(cat "$WORKDIR/slapd.pid") on ldap://$HOST:$PORT (LDAPS $LDAPS_PORT), base $SUFFIX, env in $WORKDIR/env" >&2
