//! The command line as a newcomer meets it: what a bad flag, a taken port or a bad variable
//! prints, and that each ends the process with a non-zero status.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{TestServer, is_root};

/// How long a process that should refuse to start may take to do so.
const EXIT_WITHIN: Duration = Duration::from_secs(10);

/// Runs `pollserve` with `args` (and `env`), which must exit by itself; its status code and
/// standard error.
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    run_command(Command::new(env!("CARGO_BIN_EXE_pollserve")), args, env)
}

fn run_command(mut command: Command, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pollserve");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for pollserve") {
            break status;
        }
        if started.elapsed() > EXIT_WITHIN {
            let _ = child.kill();
            panic!("pollserve {args:?} did not exit within {EXIT_WITHIN:?}");
        }
        std::thread::sleep(Duration::from_millis(20)); // polling for exit, bounded above
    };
    let output = child.wait_with_output().expect("collect stderr");
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Asserts that `args` make pollserve exit non-zero with exactly one line on stderr that
/// contains `expected`.
fn refuses(args: &[&str], env: &[(&str, &str)], expected: &str) {
    check_refusal(run(args, env), args, expected);
}

fn check_refusal((code, stderr): (i32, String), args: &[&str], expected: &str) {
    assert_ne!(code, 0, "{args:?} exited 0");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: not one line: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr:?} lacks {expected:?}");
}

#[test]
fn a_second_server_on_a_taken_port_exits_and_the_first_keeps_serving() {
    let first = TestServer::start(&["--threads", "2"]);
    let addr = first.addr.to_string();
    refuses(&["--addr", &addr, "--db", "off"], &[], &format!("{addr} is already in use"));
    for _ in 0..8 {
        let response = first.connect().request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(response.status, 200, "every connection still reaches the first server");
    }
}

#[test]
fn a_database_file_the_server_cannot_write_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("pollserve-readonly-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("test.db");
    rusqlite::Connection::open(&db).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
    let mode = |path: &std::path::Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    mode(&db, 0o444);
    mode(&dir, 0o755);
    // Root writes any file; the server then runs as nobody, to whom the file is read-only (from
    // a copy of the binary beside it: the build directory may be closed to nobody).
    let command = if is_root() {
        let binary = dir.join("pollserve");
        std::fs::copy(env!("CARGO_BIN_EXE_pollserve"), &binary).unwrap();
        mode(&binary, 0o755);
        let mut setpriv = Command::new("setpriv");
        setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&binary);
        setpriv
    } else {
        Command::new(env!("CARGO_BIN_EXE_pollserve"))
    };
    let db_arg = db.to_str().unwrap();
    let args = ["--addr", "127.0.0.1:0", "--db", db_arg];
    let expected = format!("{db_arg} is read-only for this user");
    check_refusal(run_command(command, &args, &[]), &args, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Arguments, environment variables, and what the one line on stderr must say.
type BadValue = (&'static [&'static str], &'static [(&'static str, &'static str)], &'static str);

#[test]
fn bad_values_get_one_plain_line_and_exit_2() {
    let cases: &[BadValue] = &[
        (&["--threads", "0"], &[], "--threads must be at least 1"),
        (&["--threads", "-1"], &[], "--threads must be at least 1"),
        (&["--threads", "two"], &[], "--threads must be a whole number"),
        (&["--header-timeout", "0"], &[], "--header-timeout must be at least 1"),
        (&["--max-body", "1.5m"], &[], "--max-body has an unknown unit"),
        (&["--max-header-bytes", "100"], &[], "--max-header-bytes must be between 256 and 1MiB"),
        (&["--addr", "nonsense"], &[], "is not a HOST:PORT address"),
        (&["--addr", "no-such-host.invalid:8000"], &[], "\"no-such-host.invalid\" could not be resolved"),
        (&["--cors-origin", "https://app.example/"], &[], "--cors-origin is not an origin"),
        (&["--bogus"], &[], "unexpected argument '--bogus'"),
        (&["--db-sync", "fast"], &[], "--db-sync must be normal or full"),
        (&["--access-log-format", "apache"], &[], "--access-log-format must be text, combined or json"),
        (
            &[],
            &[("POLLSERVE_TRACE", "maybe")],
            "--trace (from POLLSERVE_TRACE) must be 1, 0, true, false, yes or no",
        ),
        (&[], &[("POLLSERVE_THREADS", "0")], "--threads (from POLLSERVE_THREADS) must be at least 1"),
        (&[], &[("POLLSERVE_CORS_ORIGIN", "app.example")], "is not an origin"),
    ];
    for (args, env, expected) in cases {
        let (code, stderr) = run(args, env);
        assert_eq!(code, 2, "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?} {env:?}: not one line: {stderr}");
        assert!(stderr.starts_with("pollserve: ") && stderr.contains(expected), "{args:?} {env:?}: {stderr}");
    }
}

#[test]
fn sizes_take_units_and_switches_take_the_usual_spellings() {
    let mut server = TestServer::start(&["--max-body", "1k", "--threads", "1"]);
    let post = |len: usize| {
        let body = "x".repeat(len);
        let request = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n{body}");
        server.connect().request(request.as_bytes()).status
    };
    assert_eq!((post(1024), post(1025)), (200, 413), "--max-body 1k is 1024 bytes");
    drop(server);
    for yes in ["1", "yes", "true"] {
        server = TestServer::start_with_env(&[("POLLSERVE_ACCESS_LOG", yes)], &["--threads", "1"]);
        assert_eq!(server.connect().request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
        assert!(server.stdout_line().contains(r#""GET / HTTP/1.1" 200"#), "POLLSERVE_ACCESS_LOG={yes} logs");
    }
}

#[test]
fn the_startup_line_counts_threads_in_english() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollserve"))
        .args(["--addr", "127.0.0.1:0", "--db", "off", "--threads", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn pollserve");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.ends_with("(1 thread)\n"), "{line:?}");
}
