#!/usr/bin/env bash
# User CPU seconds of two builds of examples/count_pipelined.rs (in-memory connection, 16
# pipelined `GET /plaintext` a batch), run alternately on one core: the least and the median of
# each. Instruction counts (tools/count-instructions.sh) miss what costs time without costing
# instructions, such as a load stalled on a narrower store; this catches it. The machine's
# phases move single runs by ±15%, so compare the minimums of several alternating rounds. This
# binary has its own layout-dependent stalls (one change moved it by 30% and the server not at
# all): confirm a small difference on the server with the load test's --baseline.
#
#   tools/compare-time.sh OLD_BINARY NEW_BINARY [ROUNDS=9] [BATCHES=600000]
#
# A binary for another commit: git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build
# --release --example count_pipelined), then /tmp/old/target/release/examples/count_pipelined.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY [ROUNDS] [BATCHES]"; exit 2; }
old=$1 new=$2 rounds=${3:-9} batches=${4:-600000}
core=$(($(nproc) - 1))
measure() { # prints the user seconds of one run
    /usr/bin/time -f "%U" taskset -c "$core" "$1" "$batches" 2>&1 >/dev/null | tail -1
}
old_runs=() new_runs=()
for _ in $(seq "$rounds"); do
    old_runs+=("$(measure "$old")")
    new_runs+=("$(measure "$new")")
done
summary() { # name, then the runs
    local name=$1
    shift
    printf '%s\n' "$@" | sort -n | awk -v name="$name" '
        { t[NR] = $1 }
        END { printf "%s: least %.2f s, median %.2f s over %d runs\n", name, t[1], t[int((NR + 1) / 2)], NR }'
}
summary old "${old_runs[@]}"
summary new "${new_runs[@]}"
