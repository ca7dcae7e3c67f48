#!/usr/bin/env bash
# Several pollserve instances behind HAProxy, sharing one PostgreSQL, to try on one machine:
# starts a throwaway PostgreSQL (tools/local-postgres.sh), N instances (default 2) on ports
# 8101, 8102, … named i1, i2, …, and HAProxy (deploy/haproxy.cfg; Debian: apt-get install
# haproxy) on http://127.0.0.1:8000, checking each instance's /readyz. Ctrl-C stops them all.
#
#   tools/scale-out.sh          # two instances
#   tools/scale-out.sh 3        # three
#
# Try a rolling restart meanwhile: kill -TERM one instance's pid (printed below); HAProxy stops
# sending to it within 200 ms, it serves 2 s more, drains and exits; start it again by hand
# with the command printed below.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/local-postgres.sh

instances=${1:-2}
dir=$PWD/target/scale-out
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
[[ -x $haproxy ]] || { echo "HAProxy is not installed: apt-get install haproxy" >&2; exit 1; }
cargo build --release --quiet
mkdir -p "$dir"

pids=()
stop_all() {
    trap '' INT TERM # a second Ctrl-C must not cut the clean-up short
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    stop_postgres
}
trap stop_all EXIT
trap "exit 130" INT TERM

start_postgres
servers=""
for i in $(seq "$instances"); do
    port=$((8100 + i))
    command=(target/release/pollserve --addr "127.0.0.1:$port" --db "$pg_url" --instance "i$i" --shutdown-grace 2 --trust-forwarded-for)
    "${command[@]}" >"$dir/i$i.log" 2>&1 &
    pids+=($!)
    echo "instance i$i: pid $!, http://127.0.0.1:$port, log $dir/i$i.log: ${command[*]}"
    servers+="    server i$i 127.0.0.1:$port"$'\n'
done
# The template's placeholders (each on a line of its own for the servers).
awk -v bind=127.0.0.1:8000 -v errors="$PWD/deploy/errors" -v servers="$servers" '
    $0 == "{{SERVERS}}" { printf "%s", servers; next }
    { gsub("{{BIND}}", bind); gsub("{{ERRORS}}", errors); print }' deploy/haproxy.cfg >"$dir/haproxy.cfg"
"$haproxy" -db -f "$dir/haproxy.cfg" &
pids+=($!)
echo "HAProxy: http://127.0.0.1:8000 (config $dir/haproxy.cfg). Ctrl-C stops everything."
wait -n "${pids[@]}" || true
