#!/usr/bin/env bash
# start-webdriver.sh WORKDIR PORT — starts chromium-driver (WebDriver for Debian's chromium) on
# 127.0.0.1:PORT, accepting local clients only; PID in WORKDIR/webdriver.pid, log in
# WORKDIR/webdriver.log, and WORKDIR/env exporting WEBDRIVER_URL. Stop it with stop-webdriver.sh.
set -euo pipefail
WORKDIR=${1:?usage: start-webdriver.sh WORKDIR PORT}
PORT=${2:?usage: start-webdriver.sh WORKDIR PORT}
mkdir -p "$WORKDIR"
chromedriver --port="$PORT" --allowed-ips=127.0.0.1 --log-path="$WORKDIR/webdriver.log" >/dev/null 2>&1 &
echo $! >"$WORKDIR/webdriver.pid"
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$PORT/status" >/dev/null 2>&1; then
    echo "export WEBDRIVER_URL=http://127.0.0.1:$PORT" >"$WORKDIR/env"
    echo "chromium-driver on 127.0.0.1:$PORT (pid $(cat "$WORKDIR/webdriver.pid"))" >&2
    exit 0
  fi
  kill -0 "$(cat "$WORKDIR/webdriver.pid")" 2>/dev/null || break
  sleep 0.1
done
echo "start-webdriver: chromium-driver did not answer on port $PORT; its log:" >&2
cat "$WORKDIR/webdriver.log" >&2 || true
exit 1
