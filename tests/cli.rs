//! The command line as a newcomer meets it: what a bad flag, a taken port or a bad variable
//! prints, and that each ends the process with a non-zero status.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::TestServer;

/// How long a process that should refuse to start may take to do so.
const EXIT_WITHIN: Duration = Duration::from_secs(10);

/// Runs `pollserve` with `args` (and `env`), which must exit by itself; its status code and
/// standard error.
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollserve"))
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
    let (code, stderr) = run(args, env);
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
