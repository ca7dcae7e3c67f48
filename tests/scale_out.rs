//! Several instances on one PostgreSQL database, with real processes: two pollserve instances,
//! the shared throwaway cluster (`support/postgres.rs`) and, for the last two tests, HAProxy with
//! the repository's configuration (`support/haproxy.rs`).

mod support;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::api::{call, request, user};
use support::haproxy::Balancer;
use support::postgres::Cluster;
use support::{Client, TestServer};

/// A free port, to start an instance on (and restart it on the same one).
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port")
}

/// Starts instance `name` on `addr` against `db`.
fn instance(name: &str, addr: SocketAddr, db: &str) -> TestServer {
    let addr = addr.to_string();
    TestServer::start(&[
        "--addr",
        &addr,
        "--db",
        db,
        "--instance",
        name,
        "--threads",
        "1",
        "--shutdown-grace",
        "1",
        "--trust-forwarded-for",
    ])
}

/// Two instances on a new database.
fn two_instances(hint: &str) -> (TestServer, TestServer, String) {
    let db = Cluster::shared().new_database(hint);
    (instance("a", free_addr(), &db), instance("b", free_addr(), &db), db)
}

fn item(title: &str) -> Option<Value> {
    Some(json!({ "title": title }))
}

#[test]
fn a_token_issued_by_one_instance_is_accepted_by_the_other() {
    let (a, b, _) = two_instances("token_on_b");
    let token = user(&mut a.connect(), "roamer");
    let (status, created) = call(&mut b.connect(), "POST", "/api/items", Some(&token), item("made on b"));
    assert_eq!((status, created["owner"].as_str()), (201, Some("roamer")));
    let (status, _) = call(&mut b.connect(), "POST", "/api/items", Some("f".repeat(64).as_str()), item("x"));
    assert_eq!(status, 401, "an unknown token is still refused");
}

#[test]
fn a_logout_on_one_instance_is_refused_by_the_other_within_a_second() {
    let (a, b, _) = two_instances("logout");
    let token = user(&mut a.connect(), "leaver");
    let mut on_a = a.connect();
    assert_eq!(call(&mut on_a, "POST", "/api/items", Some(&token), item("before")).0, 201, "cached on a");
    assert_eq!(call(&mut b.connect(), "POST", "/api/logout", Some(&token), None).0, 204);
    let logged_out = Instant::now();
    loop {
        let status = call(&mut on_a, "POST", "/api/items", Some(&token), item("after")).0;
        if status == 401 {
            break;
        }
        assert_eq!(status, 201);
        assert!(logged_out.elapsed() < Duration::from_secs(1), "a still accepts the token after 1 s");
    }
    assert!(logged_out.elapsed() < Duration::from_secs(1));
}

#[test]
fn failed_logins_count_across_instances() {
    let (a, b, _) = two_instances("limit");
    user(&mut a.connect(), "target");
    let wrong = json!({ "username": "target", "password": "a wrong guess" });
    let (mut on_a, mut on_b) = (a.connect(), b.connect());
    for attempt in 0..5 {
        let client = if attempt % 2 == 0 { &mut on_a } else { &mut on_b };
        assert_eq!(call(client, "POST", "/api/login", None, Some(wrong.clone())).0, 401, "attempt {attempt}");
    }
    let limited = on_b.request(&request("POST", "/api/login", None, Some(&wrong)));
    assert_eq!(limited.status, 429, "the sixth, three on each instance");
    assert!(limited.header("Retry-After").is_some());
    assert_eq!(call(&mut on_a, "POST", "/api/login", None, Some(wrong)).0, 429);
}

/// What a client saw through the balancer: per status, and the instance that answered each
/// success after `since`.
#[derive(Debug, Default)]
struct Seen {
    statuses: BTreeMap<u16, usize>,
    connection_errors: usize,
    written: Vec<(i64, String)>,
    answered_by: Vec<(Instant, String)>,
}

/// Runs `work` (given a client number and a request counter) on `clients` threads until `stop`.
fn load(
    clients: usize,
    stop: &Arc<AtomicBool>,
    work: impl Fn(usize, usize, &mut Client, &mut Seen) + Send + Sync + Copy + 'static,
    addr: SocketAddr,
) -> Vec<std::thread::JoinHandle<Seen>> {
    (0..clients)
        .map(|n| {
            let stop = Arc::clone(stop);
            std::thread::spawn(move || {
                let mut seen = Seen::default();
                let mut client = Client::connect(addr);
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    work(n, i, &mut client, &mut seen);
                }
                seen
            })
        })
        .collect()
}

/// One POST through the balancer, recorded; a connection error reconnects.
fn write_one(n: usize, i: usize, client: &mut Client, seen: &mut Seen, token: &str, addr: SocketAddr) {
    let title = format!("c{n}-{i}");
    match client.try_request(&request("POST", "/api/items", Some(token), item(&title).as_ref())) {
        Ok(response) => {
            *seen.statuses.entry(response.status).or_default() += 1;
            if response.status == 201 {
                let created: Value = serde_json::from_slice(&response.body).unwrap();
                seen.written.push((created["id"].as_i64().unwrap(), title));
                let id = response.header("X-Request-Id").unwrap_or_default().to_owned();
                seen.answered_by.push((Instant::now(), id));
            }
            if response.header("Connection") == Some("close") {
                *client = Client::connect(addr);
            }
        }
        Err(_) => {
            seen.connection_errors += 1;
            *client = Client::connect(addr);
        }
    }
}

#[test]
fn killing_an_instance_under_load_loses_no_acknowledged_write() {
    let (a, b, _) = two_instances("kill");
    let balancer = Balancer::start(&[("a", a.addr), ("b", b.addr)]);
    let addr = balancer.addr;
    let token: &'static str = Box::leak(user(&mut Client::connect(addr), "busy").into_boxed_str());
    let stop = Arc::new(AtomicBool::new(false));
    let writers = load(64, &stop, move |n, i, c, seen| write_one(n, i, c, seen, token, addr), addr);
    std::thread::sleep(Duration::from_millis(700)); // load before the kill (the load is the point)
    let mut a = a;
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    let killed = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let total: usize = seen.iter().map(|s| s.statuses.values().sum::<usize>() + s.connection_errors).sum();
    let created: usize = seen.iter().map(|s| s.statuses.get(&201).copied().unwrap_or(0)).sum();
    let failed = total - created;
    let unexpected: Vec<_> =
        seen.iter().flat_map(|s| s.statuses.keys()).filter(|&&s| s != 201 && s != 503).collect();
    assert!(unexpected.is_empty(), "only 201 or 503: {unexpected:?}");
    assert!(failed * 20 < total, "{failed} of {total} failed");
    // HAProxy stopped sending to a: what was answered a moment after the kill came from b.
    let late =
        seen.iter().flat_map(|s| &s.answered_by).filter(|(at, _)| *at > killed + Duration::from_millis(500));
    assert!(
        late.clone().count() > 0 && late.clone().all(|(_, id)| id.starts_with("b-")),
        "answered by b only"
    );
    let mut c = b.connect();
    for (id, title) in seen.iter().flat_map(|s| &s.written) {
        let (status, item) = call(&mut c, "GET", &format!("/api/items/{id}"), None, None);
        assert_eq!((status, item["title"].as_str()), (200, Some(title.as_str())), "item {id}");
    }
    eprintln!(
        "kill -9 under load: {total} requests, {created} written, {failed} failed (503 or connection errors)"
    );
}

/// SIGTERMs `server`, waits for it to exit 0, starts it again on the same address, and waits
/// until the balancer sends it requests again.
fn restart(server: TestServer, name: &str, db: &str, balancer: &Balancer) -> TestServer {
    let addr = server.addr;
    server.signal("TERM");
    let mut server = server;
    assert!(server.child.wait().unwrap().success(), "{name} exits 0 after draining");
    let restarted = instance(name, addr, db);
    let mut probe = Client::connect(balancer.addr);
    let started = Instant::now();
    loop {
        let response = probe.request(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        if response.header("X-Request-Id").is_some_and(|id| id.starts_with(&format!("{name}-"))) {
            return restarted;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the balancer never sent to {name} again");
        std::thread::sleep(Duration::from_millis(20)); // polling a real condition, bounded
    }
}

#[test]
fn a_rolling_restart_under_load_fails_no_request() {
    let (a, b, db) = two_instances("rolling");
    let balancer = Balancer::start(&[("a", a.addr), ("b", b.addr)]);
    let addr = balancer.addr;
    let token: &'static str = Box::leak(user(&mut Client::connect(addr), "steady").into_boxed_str());
    let stop = Arc::new(AtomicBool::new(false));
    let mixed = move |n: usize, i: usize, c: &mut Client, seen: &mut Seen| {
        if i.is_multiple_of(2) {
            write_one(n, i, c, seen, token, addr);
        } else {
            match c.try_request(&request("GET", "/api/items?limit=5", None, None)) {
                Ok(response) => *seen.statuses.entry(response.status).or_default() += 1,
                Err(_) => seen.connection_errors += 1,
            }
        }
    };
    let clients = load(16, &stop, mixed, addr);
    std::thread::sleep(Duration::from_millis(300)); // steady load first
    let a = restart(a, "a", &db, &balancer);
    let b = restart(b, "b", &db, &balancer);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let mut statuses = BTreeMap::new();
    for s in &seen {
        for (status, count) in &s.statuses {
            *statuses.entry(*status).or_insert(0) += count;
        }
    }
    let errors: usize = seen.iter().map(|s| s.connection_errors).sum();
    assert_eq!(errors, 0, "connection errors; statuses {statuses:?}");
    assert!(statuses.keys().all(|s| *s == 200 || *s == 201), "every request succeeded: {statuses:?}");
    eprintln!("rolling restart under load: {statuses:?}");
    drop((a, b));
}
