#!/usr/bin/env bash
# install-deps.sh — installs what hrsync's demo, tests and benchmark need on Debian 12:
# slapd + ldap-utils + openssl (Debian packages) and a Rust toolchain (cargo).
# Idempotent. `apt-get update` is attempted but its failure is tolerated: on some machines the
# signature check fails while the package lists already present still install fine.
set -euo pipefail

need=()
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapadd >/dev/null 2>&1 || need+=(ldap-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to apt-get install ${need[*]}" >&2; exit 1
  fi
  echo "install-deps: apt-get install ${need[*]}" >&2
  apt-get update -qq >/dev/null 2>&1 || echo "install-deps: apt-get update failed; continuing with the package lists on this machine" >&2
  # The slapd postinst may try to start a *system* slapd; we never use it (our own instances
  # run from a temp dir on 127.0.0.1), and policy-rc.d usually denies the start anyway.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  # shellcheck disable=SC1091
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; installing Debian's rustc/cargo (hrsync needs Rust >= 1.88)" >&2
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo rustc >/dev/null
fi
cargo --version >&2
