"""The load generators: how to run wrk or oha for a scenario, and how to read what they print.

wrk is the default (one thread, Lua scripts for pipelining and per-request bodies). oha is the
fallback when wrk cannot be installed: it cannot pipeline HTTP/1.1, so the pipelined scenario is
skipped under it, and it sends one fixed body where wrk's script varies it.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Load:
    """What one load-generator run measured."""
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    errors: int = 0
    p50_ms: float = None  # None: the generator could not measure it (wrk with pipelining)
    p99_ms: float = None


def pinned(argv, core):
    return argv if core is None else ["taskset", "-c", core] + argv


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


class Wrk:
    name = "wrk"

    def version(self):
        return first_line(["wrk", "-v"])

    def unsupported(self, scenario):
        return ""

    def command(self, scenario, url, seconds, token, core, connections=None):
        argv = ["wrk", "-t1", f"-c{connections or scenario.connections}", f"-d{seconds}s", "--latency",
                "--timeout", "5s"]
        if scenario.close:
            argv += ["-H", "Connection: close"]
        if scenario.pipeline > 1:
            argv += ["-s", str(HERE / "pipeline.lua")]
        if scenario.script:
            argv += ["-s", str(HERE / scenario.script)]
        argv.append(url)
        if scenario.pipeline > 1:
            argv += ["--", str(scenario.pipeline)]
        if scenario.script:
            argv += ["--", token]
        return pinned(argv, core)

    def parse(self, output):
        load = Load()
        m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
        if m:
            load.requests = int(m.group(1))
            load.seconds = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
        m = re.search(r"Requests/sec:\s+([\d.]+)", output)
        load.rps = float(m.group(1)) if m else 0.0
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
        load.errors = sum(int(g) for g in m.groups()) if m else 0
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        load.errors += int(m.group(1)) if m else 0
        for pct, attr in (("50", "p50_ms"), ("99", "p99_ms")):
            m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
            if m:
                setattr(load, attr, float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)])
        if not load.p99_ms:
            # wrk records latency per request only without pipelining; with it, the distribution
            # is empty (75%..99% print as 0), so no latency is reported rather than a wrong one.
            load.p50_ms = load.p99_ms = None
        return load


class Oha:
    name = "oha"
    # oha ends a timed run by aborting requests in flight; those are not the server's errors.
    DEADLINE = "aborted due to deadline"

    def version(self):
        return first_line(["oha", "--version"])

    def unsupported(self, scenario):
        return "oha cannot pipeline HTTP/1.1 requests" if scenario.pipeline > 1 else ""

    def command(self, scenario, url, seconds, token, core, connections=None):
        argv = ["oha", "--no-tui", "--output-format", "json", "--worker-threads", "1", "-z", f"{seconds}s",
                "-c", str(connections or scenario.connections), "-t", "5s"]
        if scenario.close:
            argv += ["--disable-keepalive"]
        if scenario.body:
            argv += ["-m", scenario.method, "-T", "application/json", "-d", scenario.body,
                     "-H", f"Authorization: Bearer {token}"]
        argv.append(url)
        return pinned(argv, core)

    def parse(self, output):
        load = Load()
        try:
            data = json.loads(output)
        except json.JSONDecodeError:
            return load
        statuses = {int(code): count for code, count in (data.get("statusCodeDistribution") or {}).items()}
        load.requests = sum(statuses.values())
        load.seconds = float(data.get("summary", {}).get("total") or 0.0)
        load.rps = load.requests / load.seconds if load.seconds else 0.0
        load.errors = sum(count for code, count in statuses.items() if not 200 <= code < 400)
        load.errors += sum(count for kind, count in (data.get("errorDistribution") or {}).items()
                           if kind != self.DEADLINE)
        percentiles = data.get("latencyPercentiles") or {}
        for key, attr in (("p50", "p50_ms"), ("p99", "p99_ms")):
            if percentiles.get(key) is not None:
                setattr(load, attr, percentiles[key] * 1000.0)
        return load


def apt_install(package, say):
    if shutil.which("apt-get") and os.geteuid() == 0:
        say(f"installing {package} with apt-get")
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], capture_output=True)


def cargo_install_oha(say):
    if shutil.which("cargo"):
        say("installing oha with `cargo install oha --locked` (a few minutes, once)")
        subprocess.run(["cargo", "install", "--quiet", "--locked", "oha"], capture_output=True)
        cargo_bin = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin"
        if (cargo_bin / "oha").exists() and not shutil.which("oha"):
            os.environ["PATH"] = f"{cargo_bin}{os.pathsep}{os.environ['PATH']}"


def choose(wanted, say):
    """The load generator to use: `wanted` is "wrk", "oha" or "auto" (wrk, installing it with
    apt-get when missing; else oha, from PATH or `cargo install`)."""
    if wanted in ("auto", "wrk"):
        if not shutil.which("wrk"):
            say("wrk is missing")
            apt_install("wrk", say)
        if shutil.which("wrk"):
            return Wrk()
        if wanted == "wrk":
            sys.exit("wrk is not installed and could not be installed (apt-get install wrk)")
        say("wrk could not be installed; falling back to oha")
    if not shutil.which("oha"):
        cargo_install_oha(say)
    if shutil.which("oha"):
        return Oha()
    sys.exit("neither wrk (apt-get install wrk) nor oha (cargo install oha) could be installed")
