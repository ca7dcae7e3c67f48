//! Wire-test support: start the real `pollserve` binary on an OS-assigned port, and a raw-byte
//! client that reads responses exactly as they arrive.

#![allow(dead_code)] // each test file uses a different part of this module

pub mod api;
pub mod haproxy;
pub mod postgres;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::time::Duration;

use pollserve::app::App;
use pollserve::config::Config;
use pollserve::server::{Running, Server, ShutdownHandle};

/// How long a test waits on a socket before declaring the server stuck.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `pollserve` process; killed when dropped.
pub struct TestServer {
    pub child: Child,
    pub addr: SocketAddr,
    stdout: BufReader<ChildStdout>,
    stderr: Option<BufReader<ChildStderr>>,
}

impl TestServer {
    /// Starts the server with `--addr 127.0.0.1:0` plus `args`, and waits for its startup line.
    pub fn start(args: &[&str]) -> TestServer {
        Self::spawn(args, false)
    }

    /// Like [`TestServer::start`], with standard error captured for [`TestServer::stderr_line`].
    pub fn start_capturing_stderr(args: &[&str]) -> TestServer {
        Self::spawn(args, true)
    }

    /// Starts the server through a wrapper command (e.g. `prlimit --nofile=64:64 --`).
    pub fn start_with_prefix(prefix: &[&str], args: &[&str]) -> TestServer {
        Self::spawn_with(prefix, &[], args, false)
    }

    /// Starts the server with these environment variables set.
    pub fn start_with_env(env: &[(&str, &str)], args: &[&str]) -> TestServer {
        Self::spawn_with(&[], env, args, false)
    }

    /// Like [`TestServer::start_with_env`], with standard error captured.
    pub fn start_with_env_capturing_stderr(env: &[(&str, &str)], args: &[&str]) -> TestServer {
        Self::spawn_with(&[], env, args, true)
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        self.child.wait().ok().and_then(|status| status.code())
    }

    fn spawn(args: &[&str], capture_stderr: bool) -> TestServer {
        Self::spawn_with(&[], &[], args, capture_stderr)
    }

    fn spawn_with(prefix: &[&str], env: &[(&str, &str)], args: &[&str], capture_stderr: bool) -> TestServer {
        // A throwaway database unless the test names one: tests never leave files behind.
        let fresh = match (args.contains(&"--db"), on_postgres()) {
            (true, _) => None,
            (false, true) => Some(postgres::Cluster::shared().new_database("server")),
            (false, false) => Some(":memory:".to_owned()),
        };
        let db: Vec<&str> = fresh.as_deref().map(|db| vec!["--db", db]).unwrap_or_default();
        let mut command = match prefix.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(env!("CARGO_BIN_EXE_pollserve"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_pollserve")),
        };
        // An OS-assigned port unless the test names an address (to restart on the same one).
        let addr: &[&str] = if args.contains(&"--addr") { &[] } else { &["--addr", "127.0.0.1:0"] };
        // Warnings and errors only, whatever the developer's RUST_LOG: tests read standard error
        // line by line (a test's own `env` may ask for more).
        let mut child = command
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .args(addr)
            .args(&db)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(if capture_stderr { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
            .expect("spawn pollserve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let stderr = child.stderr.take().map(BufReader::new);
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read startup line");
        // "pollserve listening on http://127.0.0.1:PORT (N threads)", or "(1 thread)"
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected startup line {line:?}"));
        TestServer { child, addr, stdout, stderr }
    }

    /// The next line the server prints on standard output (blocks until there is one).
    pub fn stdout_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read stdout");
        line
    }

    /// The next line on standard error (only with [`TestServer::start_capturing_stderr`]).
    pub fn stderr_line(&mut self) -> String {
        let mut line = String::new();
        self.stderr.as_mut().expect("stderr captured").read_line(&mut line).expect("read stderr");
        line
    }

    /// Takes standard error (only with [`TestServer::start_capturing_stderr`]), e.g. to read it
    /// on another thread.
    pub fn take_stderr(&mut self) -> BufReader<ChildStderr> {
        self.stderr.take().expect("stderr captured")
    }

    /// A new raw client connection.
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Sends a signal (e.g. "TERM") to the server process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        assert!(status.expect("run kill").success());
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this test runs as root, who may write any file whatever its mode, and as whom
/// PostgreSQL refuses to run.
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status.lines().any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
}

/// A tool a test needs is not installed: say so loudly and skip (exit the test process
/// successfully), unless the environment variable `require` is set (`.ci/run` sets it), which
/// fails the test instead. `install` completes "Install it (Debian: …".
pub fn missing(what: &str, install: &str, require: &str) -> ! {
    skipped(what, install, require);
    std::process::exit(0);
}

/// Like [`missing`], for one test among others that need nothing: says so loudly (or fails
/// when `require` is set) and returns, so that the caller returns and the other tests run.
pub fn skipped(what: &str, install: &str, require: &str) {
    let message =
        format!("{what} is not installed: the {what} tests were SKIPPED.\nInstall it (Debian: {install}");
    if std::env::var_os(require).is_some() {
        panic!("{message} ({require} is set)");
    }
    // Straight to the process's standard error: the test harness captures `eprintln!`, and its
    // capture is lost when the process exits.
    let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
}

/// Whether curl runs here (the README's transcripts, `curl -v`); if not, says so as [`skipped`]
/// does, so the caller returns.
pub fn has_curl() -> bool {
    let runs = Command::new("curl").arg("--version").output().is_ok_and(|out| out.status.success());
    if !runs {
        skipped("curl", "apt-get install curl)", "POLLSERVE_REQUIRE_CURL");
    }
    runs
}

/// Whether this test binary runs its tests against PostgreSQL: `tests/api_postgres.rs` runs the
/// tests of `tests/api.rs` unchanged, and this module (included there as `cases::support`)
/// tells by its module path, which starts with the test binary's crate name.
pub fn on_postgres() -> bool {
    module_path!().starts_with("api_postgres")
}

/// A database of a test's own, removed when dropped: an SQLite file in a fresh directory, or
/// (against PostgreSQL) a new database on the shared cluster. `path` is what `--db` takes.
pub struct ScratchDb {
    dir: Option<std::path::PathBuf>,
    pub path: String,
}

impl ScratchDb {
    pub fn new(name: &str) -> ScratchDb {
        if on_postgres() {
            return ScratchDb { dir: None, path: postgres::Cluster::shared().new_database(name) };
        }
        let dir = std::env::temp_dir().join(format!("pollserve-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.db").to_str().unwrap().to_owned();
        ScratchDb { dir: Some(dir), path }
    }

    /// Runs SQL on the database from outside the server (as another program would).
    pub fn execute(&self, sql: &str) {
        if on_postgres() {
            let database = self.path.rsplit('/').next().unwrap();
            postgres::Cluster::shared().psql(database, sql);
        } else {
            rusqlite::Connection::open(&self.path).unwrap().execute_batch(sql).unwrap();
        }
    }

    /// How the database words the error of a query on a table that does not exist.
    pub fn missing_table_error(&self, table: &str) -> String {
        if on_postgres() {
            format!("relation \"{table}\" does not exist")
        } else {
            format!("no such table: {table}")
        }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A server running inside the test process with an app the test built; shut down on drop.
pub struct InProcess {
    pub addr: SocketAddr,
    shutdown: ShutdownHandle,
    running: Option<Running>,
}

impl InProcess {
    /// Starts `app` on 127.0.0.1, port 0, one worker thread.
    pub fn start(app: App) -> InProcess {
        let config = Config::new("127.0.0.1:0".parse().unwrap(), 1);
        let server = Server::bind(config, app).expect("bind");
        let addr = server.local_addr();
        let running = server.start().expect("start workers");
        InProcess { addr, shutdown: running.shutdown_handle(), running: Some(running) }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        if let Some(running) = self.running.take() {
            let _ = running.join();
        }
    }
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The exact bytes received for this response.
    pub raw: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw TCP client with a receive buffer.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream, buf: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads one response; `head_only` for answers to HEAD (no body despite Content-Length).
    pub fn read_response_with(&mut self, head_only: bool) -> Response {
        self.try_read_response_with(head_only).unwrap_or_else(|e| {
            panic!("reading a response: {e}; got so far: {:?}", String::from_utf8_lossy(&self.buf))
        })
    }

    /// Sends a request and reads its response; `Err` when the connection fails or closes first
    /// (for tests where that may happen: a server killed under load).
    pub fn try_request(&mut self, bytes: &[u8]) -> std::io::Result<Response> {
        self.stream.write_all(bytes)?;
        self.try_read_response_with(false)
    }

    fn try_read_response_with(&mut self, head_only: bool) -> std::io::Result<Response> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.try_fill()?;
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("utf-8 head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(": ").expect("header line");
                (n.to_owned(), v.to_owned())
            })
            .collect();
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
        let body_len = if head_only || status < 200 || status == 204 || status == 304 { 0 } else { length };
        while self.buf.len() < head_end + body_len {
            self.try_fill()?;
        }
        let raw: Vec<u8> = self.buf.drain(..head_end + body_len).collect();
        let body = raw[head_end..].to_vec();
        Ok(Response { status, headers, body, raw })
    }

    pub fn read_response(&mut self) -> Response {
        self.read_response_with(false)
    }

    /// Sends a request and reads its response.
    pub fn request(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.read_response()
    }

    /// Reads until the server closes; returns what arrived after the buffered bytes.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.buf);
        self.stream.read_to_end(&mut rest).expect("read to end");
        rest
    }

    /// Whether the server closed the connection (EOF with nothing more).
    pub fn is_closed_by_server(&mut self) -> bool {
        self.buf.is_empty() && matches!(self.stream.read(&mut [0u8; 1]), Ok(0))
    }

    fn try_fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 8192];
        // A read with a timeout fails with EINTR after the process was stopped and continued
        // (signal(7)), even with no signal handler: that is not the server's doing, so retry.
        let n = loop {
            match self.stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                result => break result?,
            }
        };
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Replaces the values that differ between otherwise identical responses (`Date`,
/// `X-Request-Id`) with placeholders, for comparing outputs taken at different times.
pub fn mask_varying(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.split("\r\n")
        .map(|line| {
            if line.starts_with("Date: ") {
                "Date: <date>".to_owned()
            } else if line.starts_with("X-Request-Id: ") {
                "X-Request-Id: <id>".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The server process's resident set size in KiB (VmRSS).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS line")
}
