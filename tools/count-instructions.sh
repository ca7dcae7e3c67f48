#!/usr/bin/env bash
# Instructions per pipelined `GET /plaintext` with pollserve's default middleware, counted by
# callgrind over examples/count_pipelined.rs (in-memory connection, 16 requests a batch): the
# difference between 3,000 and 1,000 batches, so start-up cancels out. Needs valgrind
# (Debian: apt-get install valgrind). The figures in loadtest/PERFORMANCE.md come from this.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
cargo build --release --example count_pipelined -q
binary=target/release/examples/count_pipelined
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" "$1" 2>&1 |
        awk '/Collected/ {print $4}'
}
few=$(count 1000)
many=$(count 3000)
echo "instructions per request: $(((many - few) / (2000 * 16)))"
