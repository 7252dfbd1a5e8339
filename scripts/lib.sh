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

# start_stack BIN WORK EMPLOYEES SEED: starts a throwaway slapd (WORK/slapd) and the IceHrm
# emulator with EMPLOYEES people, both on free loopback ports, and writes the example config
# pointed at them to WORK/hrsync.toml. Exports LDAP_* (from the slapd env), ICEHRM_TOKEN, HR
# (the API base URL) and EMU_PID. Pair with `trap 'stop_stack WORK' EXIT`.
start_stack() {
  local bin=$1 work=$2 employees=$3 seed=$4
  local here; here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  local ldap_port hr_port
  ldap_port=$(free_port)
  ROOTPW="stack-$(openssl rand -hex 8)" "$here/start-slapd.sh" "$work/slapd" "$ldap_port"
  # shellcheck disable=SC1091
  . "$work/slapd/env"
  # An IceHrm "Api Access" token: a JWT whose payload carries {token, expire}.
  ICEHRM_TOKEN=$("$bin/hrsync-emulator" icehrm-token --secret "stack-$$-$RANDOM")
  export ICEHRM_TOKEN LDAP_BIND_PW
  hr_port=$(free_port)
  "$bin/hrsync-emulator" icehrm --port "$hr_port" --employees "$employees" --seed "$seed" \
    --token-env ICEHRM_TOKEN >"$work/emulator.log" 2>&1 &
  EMU_PID=$!
  HR="http://127.0.0.1:$hr_port/app/api"
  for _ in $(seq 1 600); do curl -fs "$HR/echo" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "$HR/echo" >/dev/null || { echo "the emulator did not start; see $work/emulator.log" >&2; return 1; }
  sed -e "s#http://127.0.0.1:8089/app/api#$HR#" -e "s#ldap://127.0.0.1:3389#$LDAP_URL#" \
    "$here/../examples/icehrm-openldap.toml" > "$work/hrsync.toml"
}

# stop_stack WORK: stops the emulator and slapd by PID and removes WORK.
stop_stack() {
  local work=$1
  if [ -n "${EMU_PID:-}" ] && kill -0 "$EMU_PID" 2>/dev/null; then
    kill -TERM "$EMU_PID"; wait "$EMU_PID" 2>/dev/null || true
  fi
  "$(dirname "${BASH_SOURCE[0]}")/stop-slapd.sh" "$work/slapd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
