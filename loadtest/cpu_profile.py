#!/usr/bin/env python3
"""Where a keep-alive request's CPU goes, per server: a perf profile of the server's core under load.

For each server (pollserve and the Rust peers, by default), this starts it pinned to core 1 with one
worker, loads `GET /` with wrk from core 0 (64 connections, keep-alive, as the load test's
`keepalive` scenario), and meanwhile:
- samples core 1 with `perf record -e cpu-clock -g` (the server is the only thing running there);
- counts the server's system calls with `strace -c -f` in a separate, shorter run (strace slows the
  server down, so it is not measured for time);
- counts TCP segments with `nstat` (how many segments each request costs on the wire);
- reads utime/stime from /proc, as the load test does.

It writes `loadtest/results/profile.md`: per server, CPU per request split into user and kernel,
system calls per request, segments per request, and the share of samples under each system call and
in user space, with the top kernel functions. This is the evidence for what bounds keep-alive CPU
per request (see the README's load-test section).

Usage: loadtest/run.sh --profile [--servers pollserve,actix-web] [--duration S]
"""

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import run as lt

PROFILE_SCENARIO = lt.SCENARIOS[0]  # keepalive, 64 conns, GET /
DEFAULT_SERVERS = "pollserve,actix-web,axum"


def ensure_tool(tool, package):
    """Whether `tool` is on PATH, installing its Debian `package` first when it is missing."""
    if not shutil.which(tool):
        lt.say(f"{tool} is missing")
        lt.generators.apt_install(package, lt.say)
    return shutil.which(tool) is not None


def nstat_segments():
    """TCP segments sent so far, system-wide (loopback: each one is also received once)."""
    out = lt.run(["nstat", "-az", "TcpOutSegs"]).stdout
    m = re.search(r"TcpOutSegs\s+(\d+)", out)
    return int(m.group(1)) if m else None


def voluntary_switches(pids):
    """Times the processes' threads went to sleep (mostly in epoll_wait, waiting for work)."""
    total = 0
    for pid in pids:
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
            except OSError:
                pass
    return total


def syscall_counts(server, seconds):
    """strace -c over a short loaded run: {syscall: calls} and the requests wrk completed."""
    port = lt.free_port()
    proc = lt.start(server, PROFILE_SCENARIO, port)
    try:
        with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
            tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out.name, "-p", str(proc.pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # strace attaching; its counts cover whatever it sees, so no race
            load = lt.run(lt.load_command(PROFILE_SCENARIO, port, seconds))
            tracer.send_signal(lt.signal.SIGINT)
            tracer.wait(timeout=10)
            counts = {}
            for line in Path(out.name).read_text().splitlines():
                fields = line.split()
                if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
                    counts[fields[-1]] = int(fields[3])
            return counts, lt.GENERATOR.parse(load.stdout).requests
    finally:
        lt.stop(proc)


def perf_profile(server, seconds, data):
    """Samples core 1 while wrk loads the server; returns the wrk result, CPU split and segments."""
    port = lt.free_port()
    proc = lt.start(server, PROFILE_SCENARIO, port)
    try:
        lt.run(lt.load_command(PROFILE_SCENARIO, port, 1))  # warm-up
        pids = lt.process_tree(proc.pid)
        segments_before, cpu_before, sleeps_before = nstat_segments(), lt.cpu_seconds(pids), voluntary_switches(pids)
        load = subprocess.Popen(lt.load_command(PROFILE_SCENARIO, port, seconds), stdout=subprocess.PIPE, text=True)
        perf = lt.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999", "-g", "-C", lt.SERVER_CORE,
                       "-o", str(data), "--", "sleep", str(max(1, seconds - 1))])
        output, _ = load.communicate()
        cpu_after, segments_after, sleeps_after = lt.cpu_seconds(pids), nstat_segments(), voluntary_switches(pids)
        if perf.returncode != 0:
            raise RuntimeError(f"perf record failed: {perf.stderr.strip()[-300:]}")
        result = lt.GENERATOR.parse(output)
        user, kernel = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
        segments = (segments_after - segments_before) if segments_before is not None else None
        return result, user, kernel, segments, sleeps_after - sleeps_before
    finally:
        lt.stop(proc)


def report_lines(data, *args):
    out = lt.run(["perf", "report", "-i", str(data), "--stdio", "-g", "none", *args])
    return [line for line in out.stdout.splitlines() if "%" in line and not line.startswith("#")]


# Kernel functions whose share (children included) says where the time goes, whatever the system
# call's flavour (send, write or writev all end in tcp_sendmsg).
PATHS = [("send", "tcp_sendmsg"), ("recv", "tcp_recvmsg"), ("epoll_wait", "do_epoll_wait"),
         ("loopback delivery", "net_rx_action")]


def breakdown(data):
    """Shares of samples: under each path in PATHS, in user space, and the top kernel symbols (self)."""
    paths = {}
    for line in report_lines(data, "--children", "--sort", "sym"):
        m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[k\]\s+(\w+)\s*$", line)
        if m:
            for label, function in PATHS:
                if m.group(3) == function:
                    paths[label] = float(m.group(1))
    user = 0.0
    kernel_symbols = []
    for line in report_lines(data, "--no-children", "--sort", "dso,sym"):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.+?)\s*$", line)
        if not m:
            continue
        share, kind, symbol = float(m.group(1)), m.group(3), m.group(4)
        if kind == "k":
            kernel_symbols.append((share, symbol))
        else:
            user += share
    return paths, user, kernel_symbols[:12]


def main(args):
    if not ensure_tool("perf", "linux-perf") or not ensure_tool("strace", "strace"):
        lt.sys.exit("the profile needs perf (Debian: linux-perf) and strace")
    if not shutil.which("nstat"):
        ensure_tool("nstat", "iproute2")
    lt.GENERATOR = lt.generators.choose(args.tool, lt.say)
    if args.servers is None:
        args.servers = DEFAULT_SERVERS
    servers = [s for s in lt.servers(args) if s.available]
    seconds = args.duration
    lines = [f"# Where a keep-alive request's CPU goes — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    info = lt.machine()
    lines += [f"Machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}; pollserve "
              f"{info['pollserve_commit']}. Scenario: `{PROFILE_SCENARIO.name}` ({PROFILE_SCENARIO.title}); "
              f"server pinned to core {lt.SERVER_CORE}, one worker; {lt.GENERATOR.name} on core {lt.CLIENT_CORE}; {seconds} s "
              f"under `perf record -e cpu-clock -g -C {lt.SERVER_CORE}`, then a separate {min(seconds, 3)} s run "
              "under `strace -c -f` for the system-call counts. Produced by `loadtest/run.sh --profile`.", ""]
    summary = ["| server | req/s | CPU µs/req | user µs/req | kernel µs/req | syscalls/req | TCP segments/req "
               "| sleeps/req | samples in " + " | in ".join(f"{label} (`{function}`)" for label, function in PATHS)
               + " | in user space |", "|---" * 13 + "|"]
    details = []
    with tempfile.TemporaryDirectory() as tmp:
        for server in servers:
            lt.say(f"profiling {server.name}")
            data = Path(tmp) / f"{server.name}.data"
            result, user, kernel, segments, sleeps = perf_profile(server, seconds, data)
            counts, traced_requests = syscall_counts(server, min(seconds, 3))
            paths, user_share, top = breakdown(data)
            n = max(result.requests, 1)
            per_request = sum(counts.values()) / traced_requests if traced_requests else None
            summary.append(
                f"| {server.name} | {lt.fmt(result.rps, 0)} | {(user + kernel) * 1e6 / n:.2f} | {user * 1e6 / n:.2f} "
                f"| {kernel * 1e6 / n:.2f} | {lt.fmt(per_request, 2)} | "
                f"{lt.fmt(segments / n if segments is not None else None, 2)} | {sleeps / n:.4f} | "
                + " | ".join(f"{paths.get(label, 0.0):.0f}%" for label, _ in PATHS) + f" | {user_share:.0f}% |")
            calls = ", ".join(f"{name} {calls / max(traced_requests, 1):.3f}"
                              for name, calls in sorted(counts.items(), key=lambda kv: -kv[1])[:6])
            details += [f"## {server.name}", "",
                        f"System calls per request (strace -c, {traced_requests:,} requests): {calls}.", "",
                        "Top kernel functions (self): " + ", ".join(f"`{sym}` {share:.1f}%" for share, sym in top), ""]
    guide = [
        "How to read it: CPU µs/req is utime+stime ÷ requests, as in the load test; user is the server's own "
        "code, kernel everything it asked the kernel to do. The sample shares are of `perf` samples on the "
        "server's core, children included, so they overlap: the loopback delivery (`net_rx_action`) runs "
        "inside the server's own send (on loopback the sender's system call also runs the receiver's TCP "
        "input and wakes it), and is part of the send share. TCP segments/req counts both directions "
        "(system-wide `TcpOutSegs`): 2.00 means one segment per request and one per response, no bare ACKs. "
        "Sleeps/req is the server threads' voluntary context switches per request: how often it ran out of "
        "work and slept in `epoll_wait` (a server that is faster than its load generator sleeps more).",
        ""]
    lines += summary + [""] + guide + details
    out = Path(args.out) / "profile.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    lt.say("\n".join(summary))
    lt.say(f"\nwrote {out}")
