# Sourced by the load scripts: start_server BIN [VAR=value...] starts BIN on 127.0.0.1:0 with a
# fresh SQLite database in a temporary directory (the variables may name another database, a
# Redis...), creates an API token and sets limits with a platform and an endpoint scope (so
# each decision judges 7 buckets). It sets PID, BASE, TOKEN and DIR;
# drive SECONDS puts it under load;
# stop_server stops it and removes DIR.

start_server() {
  DIR=$(mktemp -d)
  env FLOWGATE_ADDR=127.0.0.1:0 FLOWGATE_DATABASE_URL="sqlite://$DIR/flowgate.db" \
    FLOWGATE_ADMIN_PASSWORD=load-test-password FLOWGATE_LOG=warn "${@:2}" "$1" > "$DIR/out" &
  PID=$!
  for _ in $(seq 100); do grep -q "listening on" "$DIR/out" 2>/dev/null && break; sleep 0.1; done
  BASE=$(sed -n 's/^flowgate listening on //p' "$DIR/out")
  local cookie
  cookie=$(curl -si -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"admin","password":"load-test-password"}' | sed -n 's/^set-cookie: flowgate_session=\([^;]*\).*/\1/ip')
  TOKEN=$(curl -s -X POST "$BASE/api/v1/tokens" -H 'content-type: application/json' -H "origin: $BASE" \
    -H "cookie: flowgate_session=$cookie" -d '{"name":"load"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  curl -s -o /dev/null -X PUT "$BASE/api/v1/limits" -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \
    -d '{"requests_per_minute":600,"max_burst":50,"endpoint_limits":{"media":{"minute":300,"hour":5000}},"platform_limits":{"mastodon":{"minute":300,"hour":5000}}}'
}

stop_server() {
  if [ -n "${PID:-}" ]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  if [ -n "${DIR:-}" ]; then rm -rf "$DIR"; fi
  PID="" DIR=""
}

# drive SECONDS: run.sh's load (wrk, 2 threads, 64 connections, check.lua's 100,000 keys) for
# SECONDS against the server; wrk's report goes to $DIR/wrk, and its own CPU time (user and
# system seconds, from bash's `time`: wrk shares the machine with the server) to $DIR/wrk-cpu.
drive() {
  local TIMEFORMAT='%U %S'
  { time FLOWGATE_TOKEN="$TOKEN" wrk -t2 -c64 -d"$1s" --latency -s "$(dirname "${BASH_SOURCE[0]}")/check.lua" "$BASE" \
    > "$DIR/wrk"; } 2> "$DIR/wrk-cpu"
}

# The server's CPU time (user + system) so far, in clock ticks. CPU per decision moves less with
# this shared machine's mood than decisions per second do.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
