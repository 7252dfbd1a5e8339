#!/usr/bin/env bash
# make-tls.sh DIR CN SAN — a throwaway CA (DIR/ca.pem) and a server certificate signed by it
# (DIR/cert.pem, key DIR/key.pem, mode 0600) for a test server. SAN is an openssl
# subjectAltName list, e.g. "DNS:localhost,IP:127.0.0.1". Strict TLS clients (rustls/webpki)
# refuse a self-signed CA used directly as the server certificate, hence two certificates.
set -euo pipefail
DIR=${1:?usage: make-tls.sh DIR CN SAN}
CN=${2:?CN}
SAN=${3:?SAN}
mkdir -p "$DIR"
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
  -keyout "$DIR/ca.key" -out "$DIR/ca.pem" -subj "/CN=hrsync test CA $CN" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout "$DIR/key.pem" -out "$DIR/server.csr" \
  -subj "/CN=$CN" >/dev/null 2>&1
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$SAN" > "$DIR/server.ext"
openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
  -CAcreateserial -days 3650 -extfile "$DIR/server.ext" -out "$DIR/cert.pem" >/dev/null 2>&1
chmod 600 "$DIR/key.pem" "$DIR/ca.key"
rm -f "$DIR/server.csr" "$DIR/server.ext" "$DIR/ca.srl"
