#!/usr/bin/env python3
"""pollserve's load test: the same endpoints, served by pollserve and by framework peers, under wrk
(or oha, when wrk cannot be installed; see generators.py).

For every scenario, each server is started fresh (pinned with taskset to core 1 and one worker,
except in the all-cores scenario), its answer is checked, and wrk loads it from core 0. Reported
per server and scenario (median of the runs): requests/s, server CPU time per request
(utime+stime of the server's processes from /proc, over the measured run), p50/p99 latency, peak
RSS, and the ratio to pollserve. Results go to loadtest/results/ as Markdown, JSON and an SVG chart.

Usage: loadtest/run.sh [--quick] [--duration S] [--runs N] [--servers a,b] [--scenarios x,y]
                       [--tool auto|wrk|oha]
       loadtest/run.sh --profile [--servers a,b] [--duration S]   (see cpu_profile.py)
"""

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import generators
import pg_cluster

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "peers"
RESULTS = HERE / "results"
VENV = HERE / ".venv"
PEER_TARGET = HERE / "target"
DB_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "pollserve-loadtest"

HELLO = b'{"message": "Hello bro, this is your HTTP response"}'
EXPECTED = {"/": HELLO, "/json": b'{"message":"Hello, World!"}', "/plaintext": b"Hello, World!"}
SERVER_CORE, CLIENT_CORE = "1", "0"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Scenario:
    name: str
    title: str
    path: str
    connections: int
    pipeline: int = 1
    close: bool = False
    all_cores: bool = False
    api: bool = False  # needs the /api routes and a database; runs a setup first
    script: str = ""  # a wrk Lua script that takes the bearer token as its argument
    method: str = "GET"  # with body: what oha sends instead of the script's requests
    body: str = ""
    seed_items: int = 0  # items created during setup
    background: str = ""  # a path loaded by a second wrk while this one measures
    durable: bool = False  # every server commits with fsync (POLLSERVE_DB_SYNC=full, PEER_SYNC=full)
    postgres: bool = False  # /api on PostgreSQL (a cluster pinned beside the server: CPU = both)
    needs: str = ""  # what a server must serve to run it, if not implied ("hello", "api", "pg", "mix")


SCENARIOS = [
    Scenario("keepalive", "keep-alive, 64 conns, GET /", "/", 64),
    Scenario("pipelined", "pipelined x16, 256 conns, GET /plaintext", "/plaintext", 256, pipeline=16),
    Scenario("close", "new connection per request, 64 conns, GET /", "/", 64, close=True),
    Scenario("json", "keep-alive, 64 conns, GET /json", "/json", 64),
    Scenario("keepalive_all_cores", "keep-alive, 64 conns, GET /, all cores (unpinned)", "/", 64, all_cores=True),
    Scenario("db_read", "keep-alive, 64 conns, GET /api/items/1 (SQLite read)", "/api/items/1", 64, api=True),
    Scenario("db_write", "keep-alive, 64 conns, POST /api/items (auth + SQLite insert)", "/api/items", 64, api=True,
             script="post_item.lua", method="POST", body='{"title":"load test item","body":"written by oha"}'),
    Scenario("db_write_full", "as db_write, every write on disk before its 201 (pollserve --db-sync full, "
             "peers synchronous=FULL)", "/api/items", 64, api=True, script="post_item.lua", method="POST",
             body='{"title":"load test item","body":"written by oha"}', durable=True),
    Scenario("pg_read", "keep-alive, 64 conns, GET /api/items/1 on PostgreSQL (server and PostgreSQL pinned to "
             "one core; CPU = both)", "/api/items/1", 64, api=True, postgres=True),
    Scenario("pg_write", "keep-alive, 64 conns, POST /api/items on PostgreSQL (auth + insert, committed before "
             "the 201; CPU = server + PostgreSQL)", "/api/items", 64, api=True, postgres=True,
             script="post_item.lua", method="POST", body='{"title":"load test item","body":"written by oha"}'),
    Scenario("pg_mix", "keep-alive, 64 conns, GET /api/items/1 and POST /api/items alternating on PostgreSQL, "
             "directly and through HAProxy (CPU = server + PostgreSQL)", "/api/items/1", 64, api=True,
             postgres=True, script="mix.lua", needs="mix"),
    Scenario("hot_alone", "GET / latency, 64 conns, 1 event loop + 1 db thread, unpinned, 2000 items stored",
             "/", 64, all_cores=True, api=True, seed_items=2000),
    Scenario("hot_with_slow_queries", "as hot_alone, while 4 more connections run full-table LIKE scans "
             "(GET /api/items?q=…&limit=100)", "/", 64, all_cores=True, api=True, seed_items=2000,
             background="/api/items?q=no-such-words&limit=100"),
]


@dataclass
class Server:
    name: str
    note: str
    command: object  # callable(port, threads, db_path) -> argv
    available: bool = True
    why_not: str = ""
    serves: tuple = ("hello",)  # "hello": /, /json, /plaintext; "api": /api on SQLite; "pg": on PostgreSQL


@dataclass
class Run(generators.Load):
    cpu_us_per_request: float = 0.0
    user_us_per_request: float = None  # the part of cpu_us_per_request spent in user space
    peak_rss_kib: int = 0
    # PostgreSQL scenarios: cpu_us_per_request is server + PostgreSQL; this is PostgreSQL's part.
    db_cpu_us_per_request: float = None
    # PostgreSQL scenarios: requests per committed transaction over the server's life (pollserve
    # sends each pipelined batch as one transaction: its depth; one query per round trip: ≤ 1).
    requests_per_transaction: float = None
    # lb_* scenarios: HAProxy's part of cpu_us_per_request.
    balancer_cpu_us_per_request: float = None


@dataclass
class Cell:
    server: str
    scenario: str
    runs: list = field(default_factory=list)
    skipped: str = ""

    def median(self, attr):
        values = [v for r in self.runs if (v := getattr(r, attr)) is not None]
        return statistics.median(values) if values else None


def say(message):
    print(message, flush=True)


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


first_line = generators.first_line


# --- preparing the servers -------------------------------------------------------------------


def build_pollserve():
    say("building pollserve (release)")
    result = run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"cargo build --release failed:\n{result.stderr}")
    return ROOT / "target" / "release" / "pollserve"


def prepare_rust_peer(crate, binary, build):
    path = PEER_TARGET / "release" / binary
    if build:
        if not shutil.which("cargo"):
            return None, "cargo not found"
        say(f"building {crate} (release; the first build takes a few minutes)")
        env = dict(os.environ, CARGO_TARGET_DIR=str(PEER_TARGET))
        result = run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                      str(PEERS / crate / "Cargo.toml")], env=env)
        if result.returncode != 0:
            return None, f"build failed: {result.stderr.strip().splitlines()[-1:]}"
    if not path.exists():
        return None, "not built (run without --quick once to build it)"
    return path, ""


# Pinned, dependencies included, so results can be rerun with the same peers.
PEER_PACKAGES = ["fastapi==0.165.0", "uvicorn[standard]==0.54.0", "argon2-cffi==25.1.0",
                 "starlette==1.10.0", "pydantic==2.14.4", "pydantic_core==2.50.5", "anyio==4.16.0",
                 "h11==0.16.0", "httptools==0.9.0", "uvloop==0.23.0", "argon2-cffi-bindings==26.2.0",
                 "cffi==2.1.1", "typing_extensions==4.16.0"]


def venv_complete():
    python = VENV / "bin" / "python"
    if not python.exists() or run([str(python), "-c", "import fastapi, uvicorn, argon2"]).returncode != 0:
        return False
    # A venv made before a pin changed is made again.
    frozen = run([str(VENV / "bin" / "pip"), "freeze"]).stdout.lower().replace("_", "-").splitlines()
    return all(re.sub(r"\[.*\]", "", pin).lower().replace("_", "-") in frozen for pin in PEER_PACKAGES)


def prepare_fastapi(build):
    uvicorn = VENV / "bin" / "uvicorn"
    if build and not venv_complete():
        say(f"creating loadtest/.venv with {', '.join(PEER_PACKAGES)}")
        shutil.rmtree(VENV, ignore_errors=True)
        made = run([sys.executable, "-m", "venv", str(VENV)])
        if made.returncode != 0:
            return None, f"python venv failed: {made.stderr.strip()[-200:]}"
        pip = run([str(VENV / "bin" / "pip"), "install", "-q", *PEER_PACKAGES])
        if pip.returncode != 0:
            return None, f"pip install failed: {pip.stderr.strip()[-200:]}"
    if not uvicorn.exists() or not venv_complete():
        return None, "no complete loadtest/.venv (run without --quick once to create it)"
    return uvicorn, ""


def crate_versions(crate):
    """The versions of a Rust peer's direct dependencies, from its Cargo.lock: what it ran."""
    manifest, lock = PEERS / crate / "Cargo.toml", PEERS / crate / "Cargo.lock"
    if not lock.exists():
        lock = PEER_TARGET.parent / "Cargo.lock"  # a workspace's shared lock file
    try:
        deps = re.findall(r"^([A-Za-z0-9_-]+)\s*=", manifest.read_text().split("[dependencies]", 1)[1].split("\n[", 1)[0],
                          re.M)
        locked = dict(re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', lock.read_text()))
    except (OSError, IndexError):
        return ""
    return ", ".join(f"{d} {locked[d]}" for d in deps if d in locked)


def python_versions():
    """The FastAPI peers' packages as installed in loadtest/.venv."""
    pip = VENV / "bin" / "pip"
    if not pip.exists():
        return ""
    wanted = {"fastapi", "uvicorn", "starlette", "pydantic", "uvloop", "httptools", "argon2-cffi"}
    frozen = [line for line in run([str(pip), "freeze"]).stdout.splitlines()
              if line.split("==")[0].lower() in wanted]
    return ", ".join(line.replace("==", " ") for line in frozen)


def servers(args):
    pollserve = build_pollserve()
    wanted = set(args.servers.split(",")) if args.servers else None

    def build(*names):
        """Peers are built (or their venv made) unless --quick, and only when selected."""
        return not args.quick and (wanted is None or any(name in wanted for name in names))

    axum, axum_why = prepare_rust_peer("axum-peer", "axum-peer", build("axum"))
    actix, actix_why = prepare_rust_peer("actix-peer", "actix-peer", build("actix-web"))
    axum_sqlite, axum_sqlite_why = prepare_rust_peer("axum-sqlite-peer", "axum-sqlite-peer", build("axum-sqlite"))
    axum_pg, axum_pg_why = prepare_rust_peer("axum-postgres-peer", "axum-postgres-peer", build("axum-postgres"))
    may, may_why = prepare_rust_peer("may-minihttp-peer", "may-minihttp-peer", build("may-minihttp"))
    # The floor probe (and the parse probe, the same binary with --parse) answers `/` and
    # `/plaintext` alike, whatever the path: it runs (and is built) only when named.
    probes = {"floor-probe", "parse-probe"}
    probe_named = wanted is not None and bool(probes & set(wanted))
    probe, probe_why = prepare_rust_peer("floor-probe", "floor-probe", probe_named and build("floor-probe"))
    uvicorn, fastapi_why = prepare_fastapi(build("fastapi", "fastapi-sqlite"))
    python = shutil.which("python3")
    haproxy = shutil.which("haproxy") or (Path("/usr/sbin/haproxy") if Path("/usr/sbin/haproxy").exists() else None)
    result = [
        Server("pollserve", "this project (`--db off` for plain HTTP, a fresh SQLite file for /api)",
               lambda port, threads, db: [
            str(pollserve), "--addr", f"127.0.0.1:{port}", "--threads", str(threads), "--db", db,
            "--db-threads", str(threads)], serves=("hello", "api", "pg", "mix")),
        Server("pollserve-baseline", f"another pollserve build to compare with (--baseline {args.baseline})",
               lambda port, threads, db: [
            str(args.baseline), "--addr", f"127.0.0.1:{port}", "--threads", str(threads), "--db", db,
            "--db-threads", str(threads)], args.baseline is not None, "no --baseline given",
               serves=("hello", "api", "pg", "mix")),
        Server("actix-web", "actix-web 4, `workers(n)`", lambda port, threads, db: [
            str(actix), f"127.0.0.1:{port}", str(threads)], actix is not None, actix_why),
        Server("may-minihttp", "may-minihttp 0.1.11 (the top Rust entry of TechEmpower's plaintext and JSON "
               "tables): stackful coroutines on may, n workers; built with its TechEmpower entry's release "
               "profile (one codegen unit, thin LTO, panic = abort)", lambda port, threads, db: [
            str(may), f"127.0.0.1:{port}", str(threads)], may is not None, may_why),
        Server("floor-probe", "not a server: pollserve's loop (mio, edge-triggered, a short read taken as "
               "drained) with no HTTP work, each request found by its empty line and answered with fixed bytes "
               "as long as pollserve's; the floor for this loop design", lambda port, threads, db: [
            str(probe), f"127.0.0.1:{port}", str(threads)], probe is not None, probe_why),
        Server("parse-probe", "not a server: the floor probe with each request parsed by pollserve's own head "
               "parser (request line, httparse::parse_headers, framing and Host checks) before its fixed answer; "
               "the floor plus the parser, without pollserve's routing, middleware, request ids, encoding or "
               "connection state machine", lambda port, threads, db: [
            str(probe), f"127.0.0.1:{port}", str(threads), "--parse"], probe is not None, probe_why),
        Server("axum", "axum 0.8 on tokio, n worker threads", lambda port, threads, db: [
            str(axum), f"127.0.0.1:{port}", str(threads)], axum is not None, axum_why),
        Server("fastapi", "FastAPI on uvicorn (uvloop, httptools), workers = n", lambda port, threads, db: [
            str(uvicorn), "fastapi_app:app", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(threads), "--no-access-log", "--log-level", "warning"],
            uvicorn is not None, fastapi_why),
        Server("axum-sqlite", "axum 0.8 + rusqlite: r2d2 read pool, one writer connection, spawn_blocking, "
               "prepared statements, tokens looked up by SHA-256; the same /api routes",
               lambda port, threads, db: [str(axum_sqlite), f"127.0.0.1:{port}", str(threads)],
               axum_sqlite is not None, axum_sqlite_why, serves=("api",)),
        Server("axum-postgres", "axum 0.8 + tokio-postgres + deadpool-postgres: a pool of 16, prepared statements "
               "(the pool's cache), one query per round trip, tokens looked up by SHA-256; the same /api routes",
               lambda port, threads, db: [str(axum_pg), f"127.0.0.1:{port}", str(threads)],
               axum_pg is not None, axum_pg_why, serves=("pg", "mix")),
        *[Server(f"pollserve-haproxy-{n}", f"{n} pollserve instance(s), one worker each, behind HAProxy with "
                 "deploy/haproxy.cfg (lb_stack.py), all on the server core",
                 lambda port, threads, db, n=n: [sys.executable, str(HERE / "lb_stack.py"), str(pollserve), str(n),
                                                 str(port), db],
                 haproxy is not None, "haproxy not found (apt-get install haproxy)", serves=("mix",))
          for n in (1, 2)],
        Server("fastapi-sqlite", "FastAPI + sqlite3 + argon2-cffi on uvicorn, the same /api routes",
               lambda port, threads, db: [
                   str(uvicorn), "fastapi_db_app:app", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(threads), "--no-access-log", "--log-level", "warning"],
               uvicorn is not None, fastapi_why, serves=("api",)),
        Server("python-http.server", "the blog's BaseHTTPRequestHandler + HTTPServer (HTTP/1.0, "
               "single-threaded)", lambda port, threads, db: [python, "blog_server.py", str(port)],
               python is not None, "python3 not found"),
    ]
    versions = {"actix-web": crate_versions("actix-peer"), "may-minihttp": crate_versions("may-minihttp-peer"),
                "floor-probe": crate_versions("floor-probe"), "parse-probe": crate_versions("floor-probe"),
                "axum": crate_versions("axum-peer"), "axum-sqlite": crate_versions("axum-sqlite-peer"),
                "axum-postgres": crate_versions("axum-postgres-peer"), "fastapi": python_versions(),
                "fastapi-sqlite": python_versions(), "python-http.server": f"Python {platform.python_version()}"}
    for server in result:
        if versions.get(server.name):
            server.note += f" (versions: {versions[server.name]})"
    # The baseline is there only when asked for, the probes only when named.
    result = [s for s in result if s.name != "pollserve-baseline" or args.baseline is not None]
    result = [s for s in result if s.name not in probes or probe_named]
    return [s for s in result if wanted is None or s.name in wanted]


# --- running one server ----------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_argv(server, scenario, port, db):
    """The command that runs `server` for `scenario`: pinned to one core with one worker, except
    in the all-cores scenarios (2 workers) and the database ones (one event loop, whose unpinned
    variants measure it beside one database thread)."""
    threads = 1 if scenario.api else (2 if scenario.all_cores else 1)
    # The plain HTTP scenarios compare servers without a database (the peers have none).
    argv = server.command(port, threads, db if scenario.api else "off")
    return argv if scenario.all_cores else ["taskset", "-c", SERVER_CORE] + argv


def scenario_env(scenario):
    """Environment a scenario sets for every server, on top of the database path."""
    return {"POLLSERVE_DB_SYNC": "full", "PEER_SYNC": "full"} if scenario.durable else {}


def recorded_command(server, scenario):
    """The server's command as the results record it, with the scenario's environment."""
    env = [f"{name}={value}" for name, value in scenario_env(scenario).items()]
    return " ".join(env + server_argv(server, scenario, "PORT", "DB"))


CLUSTER = None  # pg_cluster.Cluster, started when a PostgreSQL scenario runs


def start(server, scenario, port):
    database = None
    if scenario.postgres:
        database = re.sub(r"[^a-z0-9_]", "_", f"{server.name}_{scenario.name}_{port}".lower())
        db = CLUSTER.new_database(database)
    else:
        db = DB_DIR / f"{server.name}-{scenario.name}-{port}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    argv = server_argv(server, scenario, port, str(db))
    env = dict(os.environ, POLLSERVE_PEER_DB=str(db), DATABASE_URL=str(db), **scenario_env(scenario))
    proc = subprocess.Popen(argv, cwd=PEERS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    proc.database = database
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} at start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)  # waiting for the server to bind; bounded by the deadline
    stop(proc)
    raise RuntimeError("did not start listening within 30 s")


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def api_call(port, method, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def api_setup(port, seed_items):
    """Registers a user, logs in, creates item 1 (and `seed_items` more); returns the token."""
    credentials = {"username": "loadtest", "password": "loadtest-password"}
    status, body = api_call(port, "POST", "/api/users", credentials)
    if status != 201:
        raise RuntimeError(f"POST /api/users answered {status} {body[:80]!r}")
    status, body = api_call(port, "POST", "/api/login", credentials)
    if status != 200:
        raise RuntimeError(f"POST /api/login answered {status} {body[:80]!r}")
    token = json.loads(body)["token"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    for i in range(1 + seed_items):
        item = {"title": f"item {i}", "body": "some text to search through " * 4}
        conn.request("POST", "/api/items", body=json.dumps(item), headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"POST /api/items answered {response.status}")
    conn.close()
    status, body = api_call(port, "GET", "/api/items/1")
    if status != 200 or json.loads(body).get("title") != "item 0":
        raise RuntimeError(f"GET /api/items/1 answered {status} {body[:80]!r}")
    return token


def check_answer(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200 or body != EXPECTED[path]:
        return f"GET {path} answered {response.status} {body[:80]!r}, expected {EXPECTED[path]!r}"
    return ""


def process_tree(pid):
    """The pid and all its descendants (uvicorn workers, for example)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry.name))
            except (OSError, IndexError):
                pass
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def process_name(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_seconds(pids):
    """(user, kernel) CPU seconds of the processes so far."""
    user = kernel = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            user += int(fields[11])  # utime (field 14)
            kernel += int(fields[12])  # stime (field 15)
        except (OSError, IndexError):
            pass
    return user / CLK_TCK, kernel / CLK_TCK


def peak_rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


# --- load ------------------------------------------------------------------------------------

GENERATOR = None  # generators.Wrk or generators.Oha, chosen in main


def load_command(scenario, port, seconds, token="TOKEN"):
    return GENERATOR.command(scenario, f"http://127.0.0.1:{port}{scenario.path}", seconds, token,
                             None if scenario.all_cores else CLIENT_CORE)


def load(scenario, port, seconds, token="TOKEN"):
    """Runs the load generator; returns its output parsed as a Run."""
    out = run(load_command(scenario, port, seconds, token))
    result = Run(**GENERATOR.parse(out.stdout).__dict__)
    if out.returncode != 0 or result.requests == 0:
        raise RuntimeError(f"{GENERATOR.name} failed: {out.stderr.strip() or out.stdout.strip()[-300:]}")
    return result


def measure(server, scenario, seconds, port, seed_items):
    proc = start(server, scenario, port)
    background = None
    try:
        token = api_setup(port, seed_items) if scenario.api else "TOKEN"
        # A short warm-up, so lazy initialisation and the first connections are not measured.
        warm_up = run(load_command(scenario, port, 1, token))
        if scenario.background:
            slow = Scenario("background", "", scenario.background, 4)
            background = subprocess.Popen(
                GENERATOR.command(slow, f"http://127.0.0.1:{port}{slow.path}", seconds + 2, token, None),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # let the slow queries start before measuring
        pids = process_tree(proc.pid)
        balancer = [pid for pid in pids if process_name(pid) == "haproxy"]
        balancer_before = cpu_seconds(balancer)
        before = cpu_seconds(pids)
        db_before = CLUSTER.cpu_ticks() if scenario.postgres else 0
        result = load(scenario, port, seconds, token)
        after = cpu_seconds(pids)
        balancer_after = cpu_seconds(balancer)
        db_after = CLUSTER.cpu_ticks() if scenario.postgres else 0
        user, kernel = after[0] - before[0], after[1] - before[1]
        db_cpu = (db_after - db_before) / CLK_TCK
        result.cpu_us_per_request = (user + kernel + db_cpu) * 1e6 / result.requests
        result.user_us_per_request = user * 1e6 / result.requests
        result.peak_rss_kib = peak_rss_kib(pids)
        if balancer:
            spent = sum(balancer_after) - sum(balancer_before)
            result.balancer_cpu_us_per_request = spent * 1e6 / result.requests
        if scenario.postgres:
            result.db_cpu_us_per_request = db_cpu * 1e6 / result.requests
            warm_up_requests = GENERATOR.parse(warm_up.stdout).requests
    finally:
        if background is not None:
            background.kill()
            background.wait()
        stop(proc)
    if scenario.postgres:
        # Read after the server closed its connections, which flushes their statistics.
        transactions = CLUSTER.transactions(proc.database)
        result.requests_per_transaction = (result.requests + warm_up_requests) / max(transactions, 1)
    return result


# --- reporting -------------------------------------------------------------------------------


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "rustc": first_line(["rustc", "--version"]),
        "load_generator": GENERATOR.version(),
        "python": platform.python_version(),
        "pollserve_commit": first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }


def fmt(value, digits=1):
    return "–" if value is None else f"{value:,.{digits}f}"


def ratio_text(cell, base, attr):
    """`ratio` with the rounds' range: `1.10× [0.97–1.21]`; the range only with paired rounds, the
    same ones `ratio` took the median of."""
    value = ratio(cell, base, attr)
    if value is None:
        return "–"
    ratios = paired_ratios([getattr(a, attr) for a in cell.runs], [getattr(b, attr) for b in base.runs])
    if cell is base or not ratios or len(ratios) < 2:
        return f"{value:.2f}×"
    return f"{value:.2f}× [{min(ratios):.2f}–{max(ratios):.2f}]"


def paired_ratios(mine, theirs):
    """Round i of `mine` over round i of `theirs` (one server's values, run by run, and another's),
    or None when the rounds do not pair: a failed run left one server a round short, or a value
    is missing or zero. Runs are taken round-robin, so run i of every server falls in the same
    stretch of time."""
    if len(mine) != len(theirs) or not all(x and y for x, y in zip(mine, theirs)):
        return None
    return [x / y for x, y in zip(mine, theirs)]


def ratio(cell, base, attr):
    """cell's `attr` relative to base's: the median of the per-round ratios, which cancels the
    machine's slow and fast phases (on this VM CPU per request moves ±15% between phases, for
    every server alike). Without paired runs, the ratio of the medians."""
    if base is None or not base.runs:
        return None
    ratios = paired_ratios([getattr(a, attr) for a in cell.runs], [getattr(b, attr) for b in base.runs])
    if ratios:
        return statistics.median(ratios)
    mine, theirs = cell.median(attr), base.median(attr)
    return mine / theirs if mine and theirs else None


def table_rows(cells, scenarios, server_names):
    rows = []
    for scenario in scenarios:
        base = cells.get(("pollserve", scenario.name))
        for name in server_names:
            cell = cells.get((name, scenario.name))
            if cell is None:
                continue
            if cell.skipped:
                rows.append([scenario.name, name, "skipped: " + cell.skipped] + [""] * (len(HEADER) - 3))
                continue
            rps, cpu = cell.median("rps"), cell.median("cpu_us_per_request")
            rows.append([
                scenario.name, name, fmt(rps, 0), fmt(cpu, 2), fmt(cell.median("user_us_per_request"), 2),
                fmt(cell.median("p50_ms"), 3),
                fmt(cell.median("p99_ms"), 3), f"{max(r.peak_rss_kib for r in cell.runs) / 1024:.1f}",
                str(sum(r.errors for r in cell.runs)),
                ratio_text(cell, base, "rps"),
                ratio_text(cell, base, "cpu_us_per_request"),
            ])
    return rows


HEADER = ["scenario", "server", "req/s", "CPU µs/req", "of which user", "p50 ms", "p99 ms", "peak RSS MiB", "errors",
          "req/s ÷ pollserve's", "CPU/req ÷ pollserve's"]


def markdown(rows, info, scenarios, servers_, args, commands):
    lines = [f"# pollserve load test — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    lines += [f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, Linux {info['kernel']}; "
              f"{info['rustc']}; {info['load_generator']}; Python {info['python']}; pollserve {info['pollserve_commit']}.", ""]
    lines += [f"Each cell: median of {args.runs} run(s) of {args.duration} s after a 1 s warm-up, the runs taken "
              "round-robin over the servers. Servers pinned "
              f"to core {SERVER_CORE} with one worker, {GENERATOR.name} (1 thread) pinned to core {CLIENT_CORE}, except "
              "`keepalive_all_cores` (2 workers, nothing pinned). Columns: req/s, CPU µs/req, of which user, "
              "p50 and p99 are medians over the runs; peak RSS is the largest over the runs; errors their sum. "
              "The last two columns are this server's figure divided by pollserve's, round by round (run i "
              "of each server against run i of pollserve, which cancels the machine's slow and fast "
              "phases): the median of those per-round ratios, and in brackets the smallest and largest. "
              "So a ratio need not equal the quotient of the two medians beside it. CPU µs/req = the server's utime+stime "
              "over the run ÷ requests completed: lower is better, and it ranks servers even when the load "
              "generator, not the server, is the bottleneck. \"of which user\" is the utime part: the server's own "
              "code; the rest is kernel time (system calls, TCP on loopback, epoll, wake-ups).", ""]
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "Scenarios:"] + [f"- `{s.name}`: {s.title}" for s in scenarios]
    lines += ["", "Servers:"] + [f"- `{s.name}`: {s.note}" + ("" if s.available else f" — skipped: {s.why_not}")
                                 for s in servers_]
    lines += ["", "Commands (PORT chosen free at run time):", "```"] + commands + ["```", ""]
    return "\n".join(lines)


def per_round(cell, base, attr):
    """`base`'s `attr` over `cell`'s, round by round: (median, min, max), or None."""
    ratios = paired_ratios([getattr(b, attr) for b in base.runs], [getattr(a, attr) for a in cell.runs])
    return (statistics.median(ratios), min(ratios), max(ratios)) if ratios else None


def pg_summary(cells, scenarios, server_names):
    """The PostgreSQL scenarios: where the CPU goes, how deep pollserve's pipelines got, and
    pollserve against each peer with the per-round spread."""
    pg = [s for s in scenarios if s.postgres]
    if not pg:
        return ""
    lines = ["## PostgreSQL scenarios", "",
             "Server and PostgreSQL pinned to the same core; CPU µs/req above is both together. Requests per "
             "transaction: requests ÷ transactions PostgreSQL committed in the server's database over its "
             "whole run (warm-up included). pollserve pipelines each batch of queries as one implicit "
             "transaction, so this is the depth its pipelines reached; a peer running one query per round "
             "trip in autocommit shows 1 ÷ (queries per request). In the `lb_*` scenarios the server is HAProxy "
             "and the pollserve instances behind it, all on the server core.", "",
             "| scenario | server | server CPU µs/req | of which HAProxy | PostgreSQL CPU µs/req | requests per transaction |",
             "|---|---|---|---|---|---|"]
    for scenario in pg:
        for name in server_names:
            cell = cells.get((name, scenario.name))
            if not cell or not cell.runs:
                continue
            total, db = cell.median("cpu_us_per_request"), cell.median("db_cpu_us_per_request")
            server = total - db if total is not None and db is not None else None
            lines.append(f"| {scenario.name} | {name} | {fmt(server, 1)} | "
                         f"{fmt(cell.median('balancer_cpu_us_per_request'), 1)} | {fmt(db, 1)} | "
                         f"{fmt(cell.median('requests_per_transaction'), 2)} |")
    lines += ["", "pollserve against each peer, per round (median [min–max] of the rounds' ratios):", ""]
    for scenario in pg:
        base = cells.get(("pollserve", scenario.name))
        for name in server_names:
            cell = cells.get((name, scenario.name))
            if name == "pollserve" or not cell or not cell.runs or not base or not base.runs:
                continue
            cpu, rps = per_round(cell, base, "cpu_us_per_request"), per_round(cell, base, "rps")
            if cpu and rps:
                lines.append(f"- `{scenario.name}`: server + PostgreSQL CPU per request {cpu[0]:.2f}× "
                             f"[{cpu[1]:.2f}–{cpu[2]:.2f}] of {name}'s; requests/s {rps[0]:.2f}× "
                             f"[{rps[1]:.2f}–{rps[2]:.2f}]")
    return "\n".join(lines) + "\n"


# Scenarios whose bars share one scale in the chart: the drop between them is the point.
SHARED_SCALES = [("hot_alone", "hot_with_slow_queries"), ("db_write", "db_write_full")]


def svg_chart(cells, scenarios, server_names):
    """Two grouped bar charts: requests/s and CPU µs per request, per scenario and server. Each
    scenario is scaled to its own largest bar (servers are ranked within a scenario; the labels
    carry the values), except scenarios in `SHARED_SCALES`, which share one. Sized so that no
    title, legend or label is cut off or lies on a bar (checked rendered to PNG)."""
    # One color per server, none repeated (twelve, more than the servers there are).
    colors = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#718096", "#d53f8c", "#b7791f", "#319795",
              "#e53e3e", "#1a202c", "#9ae6b4", "#90cdf4"]
    names = [n for n in server_names if any((n, s.name) in cells and cells[(n, s.name)].runs for s in scenarios)]
    bar_w = 24

    def present(scenario):
        return [n for n in names if (n, scenario.name) in cells and cells[(n, scenario.name)].runs]

    # A scenario's group is as wide as the servers it ran: no gaps for servers that did not.
    panel_ws = [max(110, len(present(s)) * bar_w + 36) for s in scenarios]
    lefts = [70 + sum(panel_ws[:i]) for i in range(len(scenarios))]
    width = max(70 + sum(panel_ws) + 20, 720)
    plot_h, head = 190, 64  # bar area; room above it for the tallest bar's rotated label
    legend_rows, x, rows = [], 20, 1
    for name in names:
        item = 22 + 7 * len(name) + 18
        if x + item > width - 10:
            x, rows = 20, rows + 1
        legend_rows.append((x, rows))
        x += item
    panel_h = head + plot_h + 40
    height = 30 + 2 * panel_h + rows * 20 + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           'font-family="sans-serif" font-size="11">', f'<rect width="{width}" height="{height}" fill="white"/>']

    def scale_of(scenario, metric):
        group = next((g for g in SHARED_SCALES if scenario.name in g), (scenario.name,))
        values = [cells[(n, s)].median(metric) for n in names for s in group
                  if (n, s) in cells and cells[(n, s)].runs and cells[(n, s)].median(metric)]
        return max(values) if values else 1

    def panel(top, metric, title, fmt_value):
        out.append(f'<text x="10" y="{top}" font-size="14" font-weight="bold">{title}</text>')
        shown = {s.name for s in scenarios}
        shared = [g for g in SHARED_SCALES if shown.issuperset(g)]
        note = f', except {" and ".join(" / ".join(g) for g in shared)}, which share one' if shared else ""
        out.append(f'<text x="10" y="{top + 16}" fill="#555">each scenario on its own scale{note}; '
                   'labels carry the values</text>')
        base = top + head + plot_h
        out.append(f'<line x1="60" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#333"/>')
        for i, scenario in enumerate(scenarios):
            x0, here = lefts[i], present(scenario)
            top_value = scale_of(scenario, metric)
            label = scenario.name if len(scenario.name) * 6.5 < panel_ws[i] else scenario.name.replace("_", " ", 1)
            for k, part in enumerate(label.split(" ") if " " in label else [label]):
                out.append(f'<text x="{x0 + len(here) * bar_w / 2:.0f}" y="{base + 15 + 12 * k}" '
                           f'text-anchor="middle">{part}</text>')
            for slot, name in enumerate(here):
                j = names.index(name)
                v = cells[(name, scenario.name)].median(metric)
                if v is None:
                    continue
                bh = max(1.0, plot_h * v / top_value)
                x = x0 + slot * bar_w
                out.append(f'<rect x="{x}" y="{base - bh:.1f}" width="{bar_w - 4}" height="{bh:.1f}" '
                           f'fill="{colors[j % len(colors)]}"><title>{name}: {fmt_value(v)}</title></rect>')
                lx, ly = x + (bar_w - 4) / 2 + 3, base - bh - 4
                out.append(f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="9" '
                           f'transform="rotate(-70 {lx:.1f} {ly:.1f})">{fmt_value(v)}</text>')

    panel(30, "rps", "Requests per second (higher is better)",
          lambda v: f"{v / 1000:,.0f}k" if v >= 10_000 else f"{v / 1000:.1f}k")
    panel(30 + panel_h, "cpu_us_per_request", "Server CPU µs per request (lower is better)", lambda v: f"{v:.2f}")
    legend_top = 30 + 2 * panel_h
    for j, (name, (lx, row)) in enumerate(zip(names, legend_rows)):
        y = legend_top + (row - 1) * 20
        out.append(f'<rect x="{lx}" y="{y}" width="12" height="12" fill="{colors[j % len(colors)]}"/>')
        out.append(f'<text x="{lx + 18}" y="{y + 10}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out)


# --- main ------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 s per scenario, one run, only peers already built")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario; the median is reported")
    parser.add_argument("--servers", help="comma-separated subset of servers")
    parser.add_argument("--baseline", type=Path,
                        help="another pollserve binary (say, built from an older commit), measured as the server "
                             "pollserve-baseline beside this tree's, round by round")
    parser.add_argument("--scenarios", help="comma-separated subset of scenarios")
    parser.add_argument("--out", default=str(RESULTS), help="results directory")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw results/latest.svg from results/latest.json")
    parser.add_argument("--tool", choices=["auto", "wrk", "oha"], default="auto",
                        help="load generator; auto: wrk (installed with apt-get when missing), else oha")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the load test, profile keep-alive GET / per server "
                             "(perf, strace, nstat) into results/profile.md; see cpu_profile.py")
    args = parser.parse_args()
    if args.replot:
        return replot(Path(args.out))
    if args.profile:
        import cpu_profile  # only this mode needs perf and strace
        return cpu_profile.main(args)
    if args.quick:
        args.duration, args.runs = 2, 1
    partial = bool(args.servers or args.scenarios)
    if partial and not args.quick and Path(args.out).resolve() == RESULTS.resolve():
        # The committed full results stay what they are: a subset gets a directory of its own.
        name = "-".join(filter(None, [args.scenarios, args.servers])).replace(",", "+")
        args.out = str(RESULTS / "partial" / name)
        say(f"a partial run: results go to {args.out}")
    if (os.cpu_count() or 1) < 2:
        sys.exit("the load test pins server and load generator to different cores: it needs 2 cores")
    global GENERATOR
    GENERATOR = generators.choose(args.tool, say)
    DB_DIR.mkdir(parents=True, exist_ok=True)
    scenarios = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios.split(",")]
    servers_ = servers(args)
    for s in servers_:
        if not s.available:
            say(f"skipping {s.name}: {s.why_not}")
    cells, commands = {}, []
    global CLUSTER
    if any(s.postgres for s in scenarios):
        try:
            CLUSTER = pg_cluster.Cluster(PEER_TARGET / "postgres", SERVER_CORE)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            say(f"skipping the PostgreSQL scenarios: {e}")
            scenarios = [s for s in scenarios if not s.postgres]
    try:
        run_scenarios(args, scenarios, servers_, cells, commands)
    finally:
        if CLUSTER is not None:
            CLUSTER.stop()
    report(args, scenarios, servers_, cells, commands)


def run_scenarios(args, scenarios, servers_, cells, commands):
    for scenario in scenarios:
        say(f"\n== {scenario.name}: {scenario.title}")
        for server in servers_:
            if not server.available:
                continue
            needs = scenario.needs or ("pg" if scenario.postgres else "api" if scenario.api else "hello")
            if needs not in server.serves:
                continue
            if scenario.name.startswith("hot_") and server.name != "pollserve":
                continue  # the slow-query scenarios compare pollserve with itself
            cell = cells[(server.name, scenario.name)] = Cell(server.name, scenario.name)
            if reason := GENERATOR.unsupported(scenario):
                cell.skipped = reason
                say(f"  {server.name}: skipped ({reason})")
                continue
            port = free_port()
            try:
                proc = start(server, scenario, port)
                try:
                    cell.skipped = "" if scenario.api else check_answer(port, scenario.path)
                finally:
                    stop(proc)
            except (RuntimeError, OSError, http.client.HTTPException) as e:
                cell.skipped = f"{e}"
            if cell.skipped:
                say(f"  {server.name}: skipped ({cell.skipped})")
                continue
            commands.append(f"# {scenario.name} / {server.name}")
            commands.append(recorded_command(server, scenario))
            commands.append(" ".join(load_command(scenario, "PORT", args.duration)))
        # Runs go round-robin over the servers, so a slow phase of a shared machine lands on all
        # of them rather than on whichever server happened to be measured then.
        measured = [server for server in servers_
                    if (cell := cells.get((server.name, scenario.name))) and not cell.skipped]
        for i in range(args.runs):
            for server in measured:
                cell = cells[(server.name, scenario.name)]
                try:
                    seed = scenario.seed_items // 10 if args.quick else scenario.seed_items
                    result = measure(server, scenario, args.duration, free_port(), seed)
                except (RuntimeError, OSError) as e:
                    say(f"  {server.name}: run {i + 1} failed: {e}")
                    continue
                cell.runs.append(result)
                say(f"  {server.name:>20} run {i + 1}: {result.rps:>10,.0f} req/s  "
                    f"{result.cpu_us_per_request:6.2f} CPU µs/req  p50 {fmt(result.p50_ms, 3)} ms  "
                    f"p99 {fmt(result.p99_ms, 3)} ms  RSS {result.peak_rss_kib / 1024:.1f} MiB  errors {result.errors}")
        for server in measured:
            cell = cells[(server.name, scenario.name)]
            if not cell.runs:
                cell.skipped = "every run failed"


def report(args, scenarios, servers_, cells, commands):
    names = [s.name for s in servers_]
    rows = table_rows(cells, scenarios, names)
    info = machine()
    widths = [max(len(r[i]) for r in rows + [HEADER]) for i in range(len(HEADER))]
    say("")
    for row in [HEADER] + rows:
        say("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    for name in ("pollserve",):
        alone, loaded = cells.get((name, "hot_alone")), cells.get((name, "hot_with_slow_queries"))
        if alone and loaded and alone.runs and loaded.runs:
            say(f"\nGET / on {name} while slow queries run: p50 {fmt(alone.median('p50_ms'), 3)} -> "
                f"{fmt(loaded.median('p50_ms'), 3)} ms, p99 {fmt(alone.median('p99_ms'), 3)} -> "
                f"{fmt(loaded.median('p99_ms'), 3)} ms")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "quick" if args.quick else "latest"
    (out / f"{stem}.md").write_text(markdown(rows, info, scenarios, servers_, args, commands)
                                    + pg_summary(cells, scenarios, names))
    (out / f"{stem}.json").write_text(json.dumps({
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": info,
        "duration_s": args.duration, "runs": args.runs, "commands": commands,
        "scenarios": [s.__dict__ for s in scenarios],
        "results": [{"server": c.server, "scenario": c.scenario, "skipped": c.skipped,
                     "runs": [r.__dict__ for r in c.runs]} for c in cells.values()],
    }, indent=2))
    (out / f"{stem}.svg").write_text(svg_chart(cells, scenarios, names))
    say(f"\nwrote {out}/{stem}.md, {stem}.json and {stem}.svg")
    # The smoke check: pollserve completed every scenario and answered every request cleanly.
    failures = [s.name for s in scenarios if not GENERATOR.unsupported(s) and (
        not (c := cells.get(("pollserve", s.name))) or not c.runs or any(r.errors for r in c.runs))]
    if failures:
        sys.exit(f"pollserve had errors or no result in: {', '.join(failures)}")


def replot(out):
    data = json.loads((out / "latest.json").read_text())
    scenarios = [Scenario(**{k: v for k, v in sc.items()}) for sc in data["scenarios"]]
    cells, names = {}, []
    for result in data["results"]:
        cell = Cell(result["server"], result["scenario"], [Run(**r) for r in result["runs"]], result["skipped"])
        cells[(cell.server, cell.scenario)] = cell
        if cell.server not in names:
            names.append(cell.server)
    (out / "latest.svg").write_text(svg_chart(cells, scenarios, names))
    say(f"wrote {out}/latest.svg")


if __name__ == "__main__":
    main()
