#!/usr/bin/env bash
# install-openapi-validator.sh — makes sure an OpenAPI 3.1 validator is there for the API's
# document test (openapi-spec-validator, from PyPI into a venv under /opt/hrsync-tools, or the
# one already on PATH) and prints the command to run it.
set -euo pipefail
if command -v openapi-spec-validator >/dev/null 2>&1; then
  command -v openapi-spec-validator; exit 0
fi
VENV=${HRSYNC_TOOLS_VENV:-/opt/hrsync-tools}
if [ ! -x "$VENV/bin/openapi-spec-validator" ]; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "install-openapi-validator: apt-get install python3-venv" >&2
    apt-get update -qq >/dev/null 2>&1 || echo "install-openapi-validator: apt-get update failed; continuing" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  echo "install-openapi-validator: pip install openapi-spec-validator into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'openapi-spec-validator>=0.7,<0.8' >&2
fi
echo "$VENV/bin/openapi-spec-validator"
