#!/usr/bin/env bash
# install-browser.sh — installs Debian's chromium and chromium-driver (the web console's
# browser tests drive them headless through WebDriver). Idempotent; `apt-get update` is
# attempted and its failure tolerated (the package lists present usually suffice).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-browser: need root to apt-get install ${need[*]}" >&2; exit 1
  fi
  echo "install-browser: apt-get install ${need[*]} (about 100 MB)" >&2
  apt-get update -qq >/dev/null 2>&1 || echo "install-browser: apt-get update failed; continuing with the package lists on this machine" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
chromium --version >&2
chromedriver --version >&2
