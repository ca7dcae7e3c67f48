# Sourced by run-on-postgres.sh and scale-out.sh: a throwaway local PostgreSQL cluster under
# target/local-postgres, from the installed binaries (Debian: apt-get install postgresql).
# start_postgres sets $pg_url; stop_postgres stops it (and removes it unless KEEP=1).

pg_bin=${POLLSERVE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
pg_dir=$PWD/target/local-postgres
pg_port=${PGPORT:-54321}
pg_owner=()
if [[ $(id -u) == 0 ]]; then
    pg_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --) # PostgreSQL refuses root
fi

start_postgres() {
    if [[ -z $pg_bin || ! -x $pg_bin/initdb ]]; then
        echo "PostgreSQL is not installed: apt-get install postgresql (or set POLLSERVE_PG_BIN)" >&2
        exit 1
    fi
    if [[ ! -d $pg_dir/data ]]; then
        mkdir -p "$pg_dir"
        echo pollserve >"$pg_dir/password"
        [[ ${#pg_owner[@]} -eq 0 ]] || chown -R postgres:postgres "$pg_dir"
        "${pg_owner[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U pollserve --auth-host=scram-sha-256 \
            --auth-local=trust -E UTF8 --pwfile="$pg_dir/password" >/dev/null
    fi
    "${pg_owner[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w start \
        -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1" >/dev/null
    pg_url="postgres://pollserve:pollserve@127.0.0.1:$pg_port/postgres"
    echo "PostgreSQL is up: $pg_url"
}

stop_postgres() {
    trap '' INT TERM # a second Ctrl-C must not cut the clean-up short
    "${pg_owner[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true
    [[ ${KEEP:-} == 1 ]] || rm -rf "$pg_dir"
}
