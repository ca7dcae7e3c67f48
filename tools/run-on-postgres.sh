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

bin=${POLLSERVE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [[ -z $bin || ! -x $bin/initdb ]]; then
    echo "PostgreSQL is not installed: apt-get install postgresql (or set POLLSERVE_PG_BIN)" >&2
    exit 1
fi
dir=$PWD/target/local-postgres
user=pollserve password=pollserve port=${PGPORT:-54321}
owner=()
if [[ $(id -u) == 0 ]]; then
    owner=(setpriv --reuid=postgres --regid=postgres --init-groups --) # PostgreSQL refuses root
fi

if [[ ! -d $dir/data ]]; then
    mkdir -p "$dir"
    echo "$password" >"$dir/password"
    [[ ${#owner[@]} -eq 0 ]] || chown -R postgres:postgres "$dir"
    "${owner[@]}" "$bin/initdb" -D "$dir/data" -U "$user" --auth-host=scram-sha-256 --auth-local=trust \
        -E UTF8 --pwfile="$dir/password" >/dev/null
fi
"${owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" >/dev/null
stop() {
    "${owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null || true
    [[ ${KEEP:-} == 1 ]] || rm -rf "$dir"
}
trap stop EXIT

url="postgres://$user:$password@127.0.0.1:$port/postgres"
echo "PostgreSQL is up: $url"
cargo run --release -- --db "$url" "$@"
