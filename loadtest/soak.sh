#!/usr/bin/env bash
# Soak test (not run in CI): full keep-alive + pipelined load for 60 s (or $1 s) against a
# release build, sampling the server's RSS every 5 s. Passes when wrk saw zero errors and RSS at
# the end is within 10% (+1 MiB) of RSS after the first 5 s.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60}
command -v wrk >/dev/null || { echo "soak: wrk is required (apt-get install wrk)"; exit 1; }
cargo build --release --quiet
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/release/pollserve --addr "127.0.0.1:$port" --db off >/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/" >/dev/null && break
    sleep 0.1 # waiting for the server to bind, bounded by the loop
done
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
wrk -t1 -c128 -d"${duration}s" "http://127.0.0.1:$port/" >/tmp/soak-keepalive.txt &
w1=$!
wrk -t1 -c64 -d"${duration}s" -s loadtest/pipeline.lua "http://127.0.0.1:$port/plaintext" -- 16 >/tmp/soak-pipelined.txt &
w2=$!
samples=()
for _ in $(seq $((duration / 5))); do
    sleep 5 # one RSS sample every 5 s while wrk runs
    samples+=("$(rss)")
done
wait "$w1" "$w2"
echo "RSS samples (KiB, every 5 s): ${samples[*]}"
errors=0
for f in /tmp/soak-keepalive.txt /tmp/soak-pipelined.txt; do
    grep -E "requests in|Requests/sec" "$f"
    if grep -qE "Socket errors|Non-2xx" "$f"; then grep -E "Socket errors|Non-2xx" "$f"; errors=1; fi
done
first=${samples[0]}
last=${samples[-1]}
if ((last > first + first / 10 + 1024)); then echo "soak: RSS grew from $first to $last KiB"; errors=1; fi
((errors == 0)) && echo "soak: passed (zero errors, RSS flat)"
exit "$errors"
