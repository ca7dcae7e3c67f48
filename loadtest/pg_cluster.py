"""A PostgreSQL cluster for the load test's PostgreSQL scenarios, started from the installed
binaries (Debian: apt-get install postgresql) under target/, pinned to the server core so that a
server's CPU and its database's CPU are measured together on one core. Real settings (fsync on,
synchronous_commit on): every acknowledged write is on disk. As root it runs as `postgres`."""

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

USER, PASSWORD = "loadtest", "loadtest-password"


def bin_dir():
    if os.environ.get("POLLSERVE_PG_BIN"):
        return Path(os.environ["POLLSERVE_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def as_owner(argv):
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + argv
    return argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, directory, core):
        self.bin = bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.dir = Path(directory)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        (self.dir / "password").write_text(PASSWORD)
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:postgres", str(self.dir)], check=True)
        self.data = self.dir / "data"
        subprocess.run(as_owner([str(self.bin / "initdb"), "-D", str(self.data), "-U", USER,
                                 "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8",
                                 f"--pwfile={self.dir / 'password'}"]),
                       check=True, capture_output=True)
        self.port = free_port()
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=100 "
                   "-c shared_buffers=256MB")
        # pg_ctl and the postmaster it starts (and every backend) inherit the pinning.
        subprocess.run(["taskset", "-c", core] + as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data),
                        "-l", str(self.dir / "log"), "-o", options, "-w", "start"]),
                       check=True, capture_output=True)

    def url(self, database):
        return f"postgres://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def psql(self, database, sql):
        out = subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
                              "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                             env=dict(os.environ, PGPASSWORD=PASSWORD), capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {out.stderr.strip()}")
        return out.stdout.strip()

    def new_database(self, name):
        self.psql("postgres", f"CREATE DATABASE {name}")
        return self.url(name)

    def transactions(self, database):
        """Transactions committed in `database` so far (after its connections closed, complete)."""
        return int(self.psql("postgres", f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{database}'"))

    def postmaster(self):
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def cpu_ticks(self):
        """CPU ticks of the whole cluster so far: the postmaster with the reaped backends it
        accounts for (cutime, cstime), plus the live backends."""
        pm = self.postmaster()
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            pid, ppid = int(entry.name), int(fields[1])
            if pid == pm:
                total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
            elif ppid == pm:
                total += int(fields[11]) + int(fields[12])
        return total

    def stop(self):
        subprocess.run(as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
