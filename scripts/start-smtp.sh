#!/usr/bin/env bash
# start-smtp.sh WORKDIR [PORT] — a throwaway SMTP server for the notification tests.
#
# Runs scripts/smtp-sink.py (Debian's python3-aiosmtpd, installed here when missing) as a plain
# process on 127.0.0.1 only: STARTTLS required on PORT, implicit TLS on PORT+247, AUTH required
# (user "hrsync", a random password in WORKDIR/smtp.pw), a certificate signed by a throwaway CA
# (WORKDIR/tls/ca.pem). Accepted messages land in WORKDIR/mail/*.json; nothing is relayed.
# Writes WORKDIR/env (sourceable) and prints it. Stop with stop-smtp.sh WORKDIR (by PID).
set -euo pipefail

WORKDIR=${1:?usage: start-smtp.sh WORKDIR [PORT]}
PORT=${2:-2525}
TLS_PORT=$((PORT + 247))
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3

if ! "$PY" -c 'import aiosmtpd' >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "start-smtp: need root to apt-get install python3-aiosmtpd" >&2; exit 1
  fi
  echo "start-smtp: apt-get install python3-aiosmtpd" >&2
  apt-get update -qq >/dev/null 2>&1 || echo "start-smtp: apt-get update failed; continuing with the package lists on this machine" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiosmtpd >/dev/null
fi

mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
if [ -f "$WORKDIR/smtp.pid" ] && kill -0 "$(cat "$WORKDIR/smtp.pid")" 2>/dev/null; then
  echo "the SMTP sink already runs in $WORKDIR (pid $(cat "$WORKDIR/smtp.pid"))" >&2
  exit 1
fi
rm -rf "$WORKDIR/mail" "$WORKDIR/tls"
mkdir -p "$WORKDIR/mail" "$WORKDIR/tls"
"$HERE/make-tls.sh" "$WORKDIR/tls" localhost "DNS:localhost,IP:127.0.0.1"
( umask 077; openssl rand -hex 16 > "$WORKDIR/smtp.pw" )

"$PY" "$HERE/smtp-sink.py" "$WORKDIR/mail" "$PORT" "$TLS_PORT" "$WORKDIR/tls/cert.pem" \
  "$WORKDIR/tls/key.pem" hrsync "$WORKDIR/smtp.pw" >"$WORKDIR/smtp.log" 2>&1 </dev/null &
echo $! > "$WORKDIR/smtp.pid"
for _ in $(seq 1 100); do
  if (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && (echo >/dev/tcp/127.0.0.1/"$TLS_PORT") 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if ! (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
  echo "the SMTP sink did not start; see $WORKDIR/smtp.log" >&2
  cat "$WORKDIR/smtp.log" >&2 || true
  exit 1
fi

cat > "$WORKDIR/env" <<ENV
SMTP_HOST=127.0.0.1
SMTP_PORT=$PORT
SMTP_TLS_PORT=$TLS_PORT
SMTP_USER=hrsync
SMTP_PASSWORD_FILE=$WORKDIR/smtp.pw
SMTP_CA_CERT=$WORKDIR/tls/ca.pem
SMTP_MAILDIR=$WORKDIR/mail
ENV
cat "$WORKDIR/env"
