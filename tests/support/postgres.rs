//! A throwaway PostgreSQL cluster for tests, started from the installed binaries (Debian:
//! `apt-get install postgresql`): `initdb` into a temporary directory, a free port on
//! 127.0.0.1, `scram-sha-256` for TCP logins. PostgreSQL refuses to run as root, so as root
//! the cluster runs as the `postgres` user. The cluster is stopped and its directory removed
//! when the test process exits, however it exits: a keeper shell holds the read end of a pipe
//! whose write end only the test process has.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser the tests log in as, and its password.
pub const USER: &str = "pollserve";
pub const PASSWORD: &str = "test-password";

/// Set (by `.ci/run`) when missing PostgreSQL must fail the tests instead of skipping them.
const REQUIRE: &str = "POLLSERVE_REQUIRE_POSTGRES";

/// A running cluster.
pub struct Cluster {
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
    /// Closing this (at exit) makes the keeper stop the cluster and remove its directory.
    _keeper: Mutex<(Child, ChildStdin)>,
}

/// The installed PostgreSQL's `bin` directory: `POLLSERVE_PG_BIN`, or the newest under
/// `/usr/lib/postgresql`.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("POLLSERVE_PG_BIN") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").exists().then_some(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// How root runs a program as the `postgres` user (PostgreSQL refuses to run as root).
const AS_POSTGRES: [&str; 5] = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"];

/// The command line prefix that runs a program as the cluster's owner: none unless root.
fn owner() -> &'static [&'static str] {
    if super::is_root() { &AS_POSTGRES } else { &[] }
}

/// A command run as the cluster's owner.
fn as_owner(program: &Path) -> Command {
    match owner().split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(output.status.success(), "{what} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// PostgreSQL is not installed: skip (loudly), unless `.ci/run` requires it.
fn missing() -> ! {
    super::missing(
        "PostgreSQL",
        "apt-get install postgresql) or point POLLSERVE_PG_BIN at its bin directory.",
        REQUIRE,
    )
}

impl Cluster {
    /// The cluster every test of this process shares (started on first use).
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(Cluster::start)
    }

    /// A new cluster of the test's own (for tests that stop or restart it).
    pub fn start() -> Cluster {
        let Some(bin) = bin_dir() else { missing() };
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pollserve-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        std::fs::write(dir.join("password"), PASSWORD).expect("write the password file");
        if super::is_root() {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir), "chown");
        }
        run(
            as_owner(&bin.join("initdb"))
                .arg("-D")
                .arg(dir.join("data"))
                .args([
                    "-U",
                    USER,
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ])
                .arg(format!("--pwfile={}", dir.join("password").display())),
            "initdb",
        );
        // The keeper: waits for its standard input to close (the test process exited), then
        // stops the cluster at once and removes it.
        let stop = format!(
            "read _; {} -D {} stop -m immediate >/dev/null 2>&1; rm -rf {}",
            owner_prefix(&bin.join("pg_ctl")),
            dir.join("data").display(),
            dir.display()
        );
        let mut keeper =
            Command::new("sh").args(["-c", &stop]).stdin(Stdio::piped()).spawn().expect("spawn the keeper");
        let stdin = keeper.stdin.take().expect("keeper stdin");
        let port = free_port();
        let cluster = Cluster { port, bin, dir, _keeper: Mutex::new((keeper, stdin)) };
        cluster.start_server();
        cluster
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        run(
            as_owner(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("log"))
                .args(["-o", &options, "-w", "start"]),
            "pg_ctl start",
        );
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "PostgreSQL did not start listening");
            std::thread::sleep(Duration::from_millis(20)); // polling a real condition, bounded
        }
    }

    /// Stops the server (`immediate`: like a crash, connections cut at once).
    pub fn stop_server(&self) {
        run(
            as_owner(&self.bin.join("pg_ctl")).arg("-D").arg(self.dir.join("data")).args([
                "-m",
                "immediate",
                "stop",
            ]),
            "pg_ctl stop",
        );
    }

    /// The URL of a database on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL with `psql` in `database`, returning its (unaligned, tuples-only) output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .env("PGPASSWORD", PASSWORD)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, "-d", database])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(output.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// A new, empty database; returns its URL.
    pub fn new_database(&self, hint: &str) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name: String = format!("t_{}_{hint}", NEXT.fetch_add(1, Ordering::Relaxed))
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect();
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// The process ids of the server's backends (not the postmaster), e.g. to pause them.
    pub fn backend_pids(&self) -> Vec<u32> {
        let pid_file =
            std::fs::read_to_string(self.dir.join("data").join("postmaster.pid")).expect("postmaster.pid");
        let postmaster: u32 =
            pid_file.lines().next().and_then(|l| l.trim().parse().ok()).expect("postmaster pid");
        let mut children = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // "pid (comm) state ppid ...": the fields after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            if ppid == Some(postmaster) {
                children.push(pid);
            }
        }
        children
    }
}

/// The command (as text, for the keeper's shell) that runs `program` as the owner.
fn owner_prefix(program: &Path) -> String {
    owner().iter().map(|word| format!("{word} ")).collect::<String>() + &program.display().to_string()
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A cluster of a test's own: stop it now rather than at exit.
        if let Ok(mut keeper) = self._keeper.lock() {
            let _ = keeper.1.write_all(b"\n");
            let _ = keeper.0.wait();
        }
    }
}
