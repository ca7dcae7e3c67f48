#!/usr/bin/env bash
# Runs pollserve on a local, throwaway PostgreSQL: starts a cluster under target/local-postgres
# (from the installed binaries; Debian: apt-get install postgresql), runs
# `cargo run --release -- --db postgres://…` with any extra arguments you give, and on exit
# (Ctrl-C) stops the cluster and removes it.
#
#   tools/run-on-postgres.sh                 # http://127.0.0.1:8000, /api on PostgreSQL
#   tools/run-on-postgres.sh --threads 2     # extra arguments go to pollserve
#
# Set KEEP=1 to keep the data between runs (the cluster is then reused).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/local-postgres.sh

start_postgres
trap stop_postgres EXIT
trap "exit 130" INT TERM
cargo run --release -- --db "$pg_url" "$@"
