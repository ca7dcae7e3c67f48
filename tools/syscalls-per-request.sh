#!/usr/bin/env bash
# System calls and CPU per request of one server under the load test's two wrk loads: the server
# pinned to core 1, wrk to core 0, GET /plaintext; keep-alive (64 connections) and pipelined
# (x16, 256 connections). Prints, per request: epoll_wait, recvfrom and sendto calls (counted by
# `perf stat` over 4 s in the middle of an 8 s wrk run, divided by 4 s of wrk's average request
# rate, so a call count near 1 is exact only to that rate's steadiness) and the server's user and
# system CPU µs (from /proc/PID/stat over the whole run, divided by the requests wrk completed),
# and how often the server went to sleep waiting for work (voluntary context switches, summed
# over its threads from /proc/PID/task/*/status). One sample each: for ratios use loadtest/run.sh.
#
# Usage: tools/syscalls-per-request.sh PORT SERVER-COMMAND...
#   tools/syscalls-per-request.sh 18123 target/release/pollserve --addr 127.0.0.1:18123 --threads 1 --db off
#   tools/syscalls-per-request.sh 18123 loadtest/target/release/may-minihttp-peer 127.0.0.1:18123 1
# Needs wrk, perf and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
port=$1
shift
for tool in wrk perf curl; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed"; exit 1; }
done
taskset -c 1 "$@" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$port/plaintext"; do
    kill -0 $pid 2>/dev/null || { echo "the server exited"; exit 1; }
done
cpu() { awk '{print $14, $15}' "/proc/$pid/stat"; } # utime and stime, in clock ticks
sleeps() { cat /proc/$pid/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n}'; }
ticks=$(getconf CLK_TCK)
for scenario in keepalive pipelined; do
    if [ $scenario = pipelined ]; then
        load=(-c 256 -s loadtest/pipeline.lua "http://127.0.0.1:$port/plaintext" -- 16)
    else
        load=(-c 64 "http://127.0.0.1:$port/plaintext")
    fi
    read -r user0 sys0 < <(cpu)
    sleeps0=$(sleeps)
    out=$(mktemp)
    taskset -c 0 wrk -t 1 -d 8 "${load[@]}" >"$out" &
    wrk_pid=$!
    sleep 2
    counts=$(perf stat -x, -e syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto \
        -p $pid -- sleep 4 2>&1 >/dev/null | cut -d, -f1 | tr '\n' ' ')
    wait $wrk_pid
    read -r user1 sys1 < <(cpu)
    sleeps1=$(sleeps)
    requests=$(awk '/requests in/ {print $1}' "$out")
    rate=$(awk '/Requests\/sec/ {print $2}' "$out")
    rm -f "$out"
    python3 - "$scenario" "$requests" "$rate" "$ticks" "$user0" "$sys0" "$user1" "$sys1" "$sleeps0" "$sleeps1" $counts <<'EOF'
import sys
scenario, requests, rate, ticks = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
user0, sys0, user1, sys1, sleeps0, sleeps1 = map(int, sys.argv[5:11])
epoll, recv, send = map(int, sys.argv[11:14])
counted = rate * 4  # the requests answered while perf counted
us = lambda t: t / ticks * 1e6 / requests
print(f"{scenario}: {requests} requests; per request epoll_wait {epoll / counted:.3f}, "
      f"recvfrom {recv / counted:.3f}, sendto {send / counted:.3f}; CPU µs user "
      f"{us(user1 - user0):.3f}, system {us(sys1 - sys0):.3f}, total {us(user1 - user0 + sys1 - sys0):.3f}; "
      f"sleeps {(sleeps1 - sleeps0) / requests:.4f}")
EOF
done
