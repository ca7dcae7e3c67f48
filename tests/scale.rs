//! Many and slow clients: slowloris, 10,000 idle keep-alive connections, a client that never
//! reads, connection churn. Each checks that a normal client is still served while it happens.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use support::{Client, TestServer, rss_kib};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Raises this test process's open-file soft limit to its hard limit.
fn allow_many_descriptors(needed: u64) {
    let raised = rlimit::increase_nofile_limit(u64::MAX).expect("raise RLIMIT_NOFILE");
    assert!(raised >= needed, "open-file limit {raised} is below the {needed} this test needs");
}

#[test]
fn slowloris_connections_do_not_block_others_and_get_408() {
    allow_many_descriptors(1100);
    let server = TestServer::start(&["--header-timeout", "1"]);
    let mut slow: Vec<Client> = (0..1000).map(|_| server.connect()).collect();
    for client in &mut slow {
        client.send(b"GET / HTTP/1.1\r\nHo");
    }
    // While 1,000 heads trickle in, a normal client is answered.
    assert_eq!(server.connect().request(GET).status, 200);
    for client in &mut slow {
        client.send(b"s");
    }
    assert_eq!(server.connect().request(GET).status, 200);
    // The header timeout bounds the whole head, however the bytes trickle: every one gets 408.
    for client in &mut slow {
        let response = client.read_response();
        assert_eq!(response.status, 408);
        assert!(client.is_closed_by_server());
    }
}

#[test]
fn ten_thousand_idle_keep_alive_connections_cost_little_memory() {
    const IDLE: usize = 10_000;
    allow_many_descriptors(IDLE as u64 + 100);
    let server = TestServer::start(&["--max-connections", "10100"]);
    let pid = server.child.id();
    // Warm up both workers' pools and the slab, so the baseline is a serving server.
    let warm: Vec<Client> = (0..64).map(|_| server.connect()).collect();
    for mut client in warm {
        assert_eq!(client.request(GET).status, 200);
    }
    let before = rss_kib(pid);
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let mut client = server.connect();
        client.send(GET);
        idle.push(client);
    }
    for client in &mut idle {
        assert_eq!(client.read_response().status, 200);
    }
    let after = rss_kib(pid);
    let per_connection = (after.saturating_sub(before) * 1024) as f64 / IDLE as f64;
    eprintln!("RSS {before} KiB -> {after} KiB with {IDLE} idle connections: {per_connection:.0} bytes each");
    assert!(per_connection <= 1024.0, "{per_connection:.0} bytes per idle connection");
    // Others are still served while they all sit idle, and the idle ones still work.
    assert_eq!(server.connect().request(GET).status, 200);
    assert_eq!(idle[IDLE / 2].request(GET).status, 200);
}

/// `clients` threads each make `each` connections in turn: `Connection: close` request, read to EOF.
fn churn(server: &TestServer, clients: usize, each: usize) {
    let addr = server.addr;
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            thread::spawn(move || {
                let mut response = Vec::with_capacity(512);
                for _ in 0..each {
                    let mut stream = TcpStream::connect(addr).expect("connect");
                    stream
                        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .expect("send");
                    response.clear();
                    stream.read_to_end(&mut response).expect("read to EOF");
                    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("churn client");
    }
}

#[test]
fn connection_churn_does_not_grow_memory() {
    // Every closed connection leaves a stale deadline behind (10 s header timeout); without the
    // timer heap's compaction, 40,000 of them would add ~1–2 MiB here.
    let server = TestServer::start(&["--threads", "1"]);
    let pid = server.child.id();
    churn(&server, 4, 1_000);
    let before = rss_kib(pid);
    churn(&server, 4, 10_000);
    let after = rss_kib(pid);
    eprintln!("RSS {before} KiB -> {after} KiB over 40,000 connections");
    assert!(after <= before + 256, "RSS grew from {before} KiB to {after} KiB under connection churn");
    assert_eq!(server.connect().request(GET).status, 200);
}

#[test]
fn a_client_that_never_reads_gets_back_pressure_then_the_write_timeout() {
    let server = TestServer::start(&["--write-timeout", "1", "--threads", "1"]);
    let pid = server.child.id();
    let before = rss_kib(pid);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(support::IO_TIMEOUT)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    // 200,000 pipelined requests (~6 MB) whose ~30 MB of responses are never read. The writer
    // blocks once the server stops reading, and fails once the server gives up on the client.
    let sender = thread::spawn(move || {
        let batch = GET.repeat(1000);
        for _ in 0..200 {
            if writer.write_all(&batch).is_err() {
                return;
            }
        }
    });
    // Meanwhile the same worker serves others.
    assert_eq!(server.connect().request(GET).status, 200);
    let during = rss_kib(pid);
    assert!(during < before + 8 * 1024, "RSS grew from {before} KiB to {during} KiB");
    sender.join().unwrap();
    // The server closed the connection: reading what it had sent ends in EOF or a reset.
    let mut sink = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("connection not closed: {e}"),
        }
    }
    assert_eq!(server.connect().request(GET).status, 200);
}

#[test]
fn running_out_of_descriptors_does_not_spin_and_recovers() {
    if std::process::Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("prlimit not installed; skipping");
        return;
    }
    // The server may hold 64 descriptors; 100 clients push accept() into EMFILE.
    let mut server = TestServer::start_with_prefix(&["prlimit", "--nofile=64:64", "--"], &["--threads", "1"]);
    let pid = server.child.id();
    let clients: Vec<TcpStream> = (0..100).filter_map(|_| TcpStream::connect(server.addr).ok()).collect();
    // While the backlog holds connections it cannot accept, the loop backs off instead of
    // retrying accept() in a tight loop: over a second it uses a small part of a core.
    let cpu = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu(pid);
    std::thread::sleep(Duration::from_secs(1)); // a measurement window, not a wait for readiness
    let ticks = cpu(pid) - before;
    assert!(ticks < 50, "{ticks} clock ticks of CPU in one second at EMFILE: the accept loop spins");
    drop(clients);
    // Once descriptors free up, new clients are served again.
    let deadline = Instant::now() + support::IO_TIMEOUT;
    loop {
        let mut client = Client::connect(server.addr);
        client.send(GET);
        let mut byte = [0u8; 1];
        if client.stream.read(&mut byte).is_ok_and(|n| n == 1) {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered from EMFILE");
    }
    server.child.kill().ok();
}

#[test]
fn a_trickling_client_is_gone_within_a_second_of_its_408() {
    let server = TestServer::start(&["--header-timeout", "1"]);
    let mut client = server.connect();
    client.send(b"GET / HTTP/1.1\r\n");
    let trickle = |client: &mut Client| client.stream.write_all(b"X-Trickle: 1\r\n");
    // A header line every 200 ms until the 408 arrives (it follows the FIN-less first line).
    client.stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut byte = [0u8; 1];
    loop {
        trickle(&mut client).expect("the server reads until its timeout");
        match client.stream.peek(&mut byte) {
            Ok(_) => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("no 408 before the connection failed: {e}"),
        }
    }
    let answered = Instant::now();
    client.stream.set_read_timeout(Some(support::IO_TIMEOUT)).unwrap();
    assert_eq!(client.read_response().status, 408);
    // The client keeps trickling; the server closes for good within its 1 s grace (it used to
    // linger 5 s more), and the next write after that fails.
    while trickle(&mut client).is_ok() && answered.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(200)); // the client's trickle rate
    }
    let gone_after = answered.elapsed();
    assert!(gone_after < Duration::from_millis(2500), "still open {gone_after:?} after the 408");
}
