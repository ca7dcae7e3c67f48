"""pollserve behind HAProxy for the load test's lb_* scenarios: starts N instances (one worker
each, on free ports, against the PostgreSQL URL given) and HAProxy with deploy/haproxy.cfg on
PORT, as children of this process (so the load test's CPU accounting of the process tree counts
them all), and stops them on SIGTERM.

Usage: python3 lb_stack.py POLLSERVE_BINARY INSTANCES PORT DATABASE_URL"""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # waiting for a child to bind; bounded by the deadline
    raise RuntimeError(f"nothing listens on {port}")


def main():
    binary, instances, port, url = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    children, servers = [], []
    deadline = time.monotonic() + 30
    for i in range(instances):
        own = free_port()
        children.append(subprocess.Popen([binary, "--addr", f"127.0.0.1:{own}", "--threads", "1", "--db", url,
                                          "--instance", f"i{i + 1}"], stdout=subprocess.DEVNULL))
        servers.append(f"    server i{i + 1} 127.0.0.1:{own}")
        wait_for(own, deadline)
    template = (ROOT / "deploy" / "haproxy.cfg").read_text()
    config = "\n".join("\n".join(servers) if line == "{{SERVERS}}" else
                       line.replace("{{BIND}}", f"127.0.0.1:{port}").replace("{{ERRORS}}", str(ROOT / "deploy" / "errors"))
                       for line in template.splitlines())
    path = Path(f"/tmp/pollserve-lb-{port}.cfg")
    path.write_text(config + "\n")
    children.append(subprocess.Popen(["haproxy", "-db", "-f", str(path)], stdout=subprocess.DEVNULL))

    def stop(*_):
        for child in children:
            child.terminate()
        for child in children:
            child.wait()
        path.unlink(missing_ok=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(child.poll() is None for child in children):
        time.sleep(0.5)  # idle: the children do the work; a child's exit ends the stack
    stop()


if __name__ == "__main__":
    main()
