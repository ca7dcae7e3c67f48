//! The README's learner's path shows `curl` commands and "their real output", and its metrics
//! section what `/metrics` says after them. This test runs every `curl` command of the README,
//! in order, with the real `curl` against one server started as the learner's path says
//! (`--db :memory:`), and compares what curl prints with what the README shows.
//!
//! What changes from run to run is masked on both sides before comparing: `Date` values, request
//! ids, timestamps, tokens, the client's port and curl's version. Of `curl -v` only the request
//! and response lines (`>` and `<`) and the body are compared: the rest of its trace is curl's.
//! Commands that are not curl (starting the server, with the access log's and the trace's lines)
//! are not run.

mod support;

use std::process::Command;

use regex::Regex;
use support::TestServer;

const README: &str = include_str!("../README.md");

/// One `$ command` of a console block and the lines the README shows after it.
#[derive(Debug)]
struct Transcript {
    command: String,
    output: String,
}

/// Every command of the README's console blocks, in order.
fn transcripts() -> Vec<Transcript> {
    let mut transcripts = Vec::new();
    for block in README.split("```console\n").skip(1) {
        let block = &block[..block.find("```").expect("a console block ends")];
        let mut lines = block.lines().peekable();
        while let Some(line) = lines.next() {
            let Some(first) = line.strip_prefix("$ ") else { continue };
            let mut command = first.to_owned();
            while command.ends_with('\\') {
                command.push('\n');
                command.push_str(lines.next().expect("a continued command goes on"));
            }
            let mut output = Vec::new();
            while let Some(next) = lines.next_if(|next| !next.starts_with("$ ")) {
                output.push(next);
            }
            let output = output.join("\n").trim_end().to_owned();
            transcripts.push(Transcript { command, output });
        }
    }
    transcripts
}

/// The request and response lines of a `curl -v` trace (`> …` and `< …`), each ending in a newline.
fn exchanged_lines(trace: &str) -> String {
    let lines = trace.lines().map(str::trim_end).filter(|line| line.starts_with(['>', '<']));
    lines.map(|line| format!("{line}\n")).collect()
}

/// The README's text and curl's alike, with what differs between runs replaced by a name.
fn masked(text: &str) -> String {
    let rules = [
        (r"Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", "Date: <date>"),
        (r"\b[0-9a-f]{8}-\d+-\d+\b", "<request-id>"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>"),
        (r"\b[0-9a-f]{64}\b", "<token>"),
        (r#""client":"127\.0\.0\.1:\d+""#, r#""client":"<client>""#),
        (r"curl/[0-9.]+", "curl/<version>"),
    ];
    let mut text = text.replace("\r\n", "\n");
    for (pattern, name) in rules {
        text = Regex::new(pattern).unwrap().replace_all(&text, name).into_owned();
    }
    text
}

#[test]
fn the_readme_shows_what_the_server_answers() {
    if !support::has_curl() {
        return;
    }
    let server = TestServer::start(&["--db", ":memory:"]);
    let here = server.addr.to_string();
    let mut token = String::new();
    let mut compared = 0;
    for transcript in transcripts() {
        let command = &transcript.command;
        if !command.starts_with("curl ") {
            continue;
        }
        let run = command.replace("localhost:8000", &here);
        let out = Command::new("sh").args(["-c", &run]).env("TOKEN", &token).output().unwrap();
        assert!(out.status.success(), "`{command}` failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut printed = String::from_utf8(out.stdout).unwrap().replace(&here, "localhost:8000");
        let mut shown = transcript.output.clone();
        if command.starts_with("curl -v") {
            let trace = String::from_utf8(out.stderr).unwrap().replace(&here, "localhost:8000");
            printed = exchanged_lines(&trace) + &printed;
            shown = exchanged_lines(&shown) + shown.lines().last().unwrap_or_default();
        }
        if let Some(at) = printed.find(r#""token":""#) {
            token = printed[at + 9..at + 9 + 64].to_owned();
        }
        assert_eq!(
            masked(printed.trim_end()),
            masked(shown.trim_end()),
            "the README shows another answer to `{command}`"
        );
        compared += 1;
    }
    // The learner's path: `curl -v` of step 1; two methods, a body, two with parameters, two
    // status codes, five for authentication, two against the database. Then `/metrics`.
    assert_eq!(compared, 16, "curl commands compared");
}

#[test]
fn transcripts_are_read_with_their_continuation_lines_and_outputs() {
    let transcripts = transcripts();
    let login = transcripts.iter().find(|t| t.command.contains("/api/login")).unwrap();
    assert!(login.command.contains("\\\n       -d '{\"username\": \"ann\""), "{login:?}");
    assert!(login.output.starts_with(r#"{"token":""#), "{login:?}");
    let teapot = transcripts.iter().find(|t| t.command.ends_with("/status/418")).unwrap();
    assert!(teapot.output.starts_with("HTTP/1.1 418 I'm a teapot\n"), "{teapot:?}");
    assert!(teapot.output.ends_with(r#"{"status":418,"reason":"I'm a teapot"}"#), "{teapot:?}");
}
