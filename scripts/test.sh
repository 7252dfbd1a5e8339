#!/usr/bin/env bash
# test.sh — the whole test suite, from a fresh Debian machine (root) or a developer's:
# installs what is missing, starts a throwaway slapd on a free loopback port, an SMTP server
# (notifications) on another and a Samba AD domain controller on 127.0.0.1, runs fmt/clippy and
# every test (unit, emulator, integration against the real slapd, the SMTP server and the real
# DC, the web console in Debian's chromium through chromium-driver), then stops them by PID. SKIP_LINT=1 skips fmt and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
scripts/install-deps.sh
scripts/install-browser.sh
ensure_cargo

WORK=$(mktemp -d /tmp/hrsync-test.XXXXXX)
cleanup() {
  scripts/stop-slapd.sh "$WORK/slapd" --purge >/dev/null 2>&1 || true
  scripts/stop-smtp.sh "$WORK/smtp" --purge >/dev/null 2>&1 || true
  scripts/stop-samba-ad.sh "$WORK/ad" --purge >/dev/null 2>&1 || true
  scripts/stop-webdriver.sh "$WORK/webdriver" --purge >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# A long random bind password, so the secret-leak test can search all output for it.
ROOTPW="hrsync-test-$(openssl rand -hex 12)"
# slapd takes PORT and PORT+247 (LDAPS); a free port can be taken by another process before
# slapd binds it (seen once: slapd exited at once, nothing in its log), so up to 3 ports are tried.
for attempt in 1 2 3; do
  PORT=$(free_port)
  if ROOTPW=$ROOTPW NOSYNC=1 scripts/start-slapd.sh "$WORK/slapd" "$PORT"; then break; fi
  [ "$attempt" = 3 ] && { echo "test.sh: slapd did not start on 3 ports" >&2; exit 1; }
  echo "test.sh: slapd did not start on port $PORT; trying another port" >&2
done
# shellcheck disable=SC1091
. "$WORK/slapd/env"
export HRSYNC_TEST_LDAP_URL=$LDAP_URL HRSYNC_TEST_LDAP_BIND_DN=$LDAP_BIND_DN \
       HRSYNC_TEST_LDAP_BIND_PW=$LDAP_BIND_PW HRSYNC_TEST_LDAP_BASE_DN=$LDAP_BASE_DN \
       HRSYNC_TEST_LDAP_CA_CERT=$LDAP_CA_CERT HRSYNC_TEST_LDAPS_URL=$LDAPS_URL

# An SMTP server for the notification tests: STARTTLS and AUTH required (Debian's aiosmtpd).
scripts/start-smtp.sh "$WORK/smtp" "$(free_port)"
# shellcheck disable=SC1091
. "$WORK/smtp/env"
export HRSYNC_TEST_SMTP_HOST=$SMTP_HOST HRSYNC_TEST_SMTP_PORT=$SMTP_PORT \
       HRSYNC_TEST_SMTP_TLS_PORT=$SMTP_TLS_PORT HRSYNC_TEST_SMTP_USER=$SMTP_USER \
       HRSYNC_TEST_SMTP_PASSWORD_FILE=$SMTP_PASSWORD_FILE HRSYNC_TEST_SMTP_CA_CERT=$SMTP_CA_CERT \
       HRSYNC_TEST_SMTP_MAILDIR=$SMTP_MAILDIR

# A Samba AD domain controller for the Active Directory tests (fixed ports 389/636: one per
# machine; the tests share it, each in its own OU). Strong auth on, like a real DC.
NOSYNC=1 scripts/start-samba-ad.sh "$WORK/ad"
# shellcheck disable=SC1091
. "$WORK/ad/env"
export HRSYNC_TEST_AD_LDAPS_URL=$AD_LDAPS_URL HRSYNC_TEST_AD_BIND_DN=$AD_BIND_DN \
       HRSYNC_TEST_AD_BIND_PW=$AD_BIND_PW HRSYNC_TEST_AD_BASE_DN=$AD_BASE_DN \
       HRSYNC_TEST_AD_CA_CERT=$AD_CA_CERT HRSYNC_TEST_AD_REALM=$AD_REALM

# chromium-driver for the web console's browser tests (headless chromium, local clients only).
scripts/start-webdriver.sh "$WORK/webdriver" "$(free_port)"
# shellcheck disable=SC1091
. "$WORK/webdriver/env"
export HRSYNC_TEST_WEBDRIVER=$WEBDRIVER_URL

# The validator the OpenAPI document test runs (openapi-spec-validator).
HRSYNC_OPENAPI_VALIDATOR=$(scripts/install-openapi-validator.sh)
export HRSYNC_OPENAPI_VALIDATOR

if [ "${SKIP_LINT:-0}" != 1 ]; then
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets --quiet -- -D warnings
fi
cargo test --workspace
