# Shared helpers for hrsync's scripts (sourced, not run).

# free_port: prints a loopback TCP port that is free, and whose +247 (LDAPS) is free too.
free_port() {
  local p
  for p in $(shuf -i 20000-39000 -n 50); do
    if ! (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null && ! (echo >/dev/tcp/127.0.0.1/$((p + 247))) 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  echo "no free port found" >&2; return 1
}

# ensure_cargo: puts cargo on PATH (rustup's env file) or installs a toolchain.
ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  command -v cargo >/dev/null 2>&1 || "$(dirname "${BASH_SOURCE[0]}")/install-deps.sh"
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
}
