//! HAProxy in front of test servers, with the repository's configuration (`deploy/haproxy.cfg`,
//! rendered with the servers' addresses), on a port of its own; stopped when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set (by `.ci/run`) when missing HAProxy must fail the tests instead of skipping them.
const REQUIRE: &str = "POLLSERVE_REQUIRE_HAPROXY";

/// A running HAProxy.
pub struct Balancer {
    child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
}

fn binary() -> Option<PathBuf> {
    ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/bin/haproxy"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Balancer {
    /// Starts HAProxy balancing over `servers` (name, address) and waits until it listens.
    pub fn start(servers: &[(&str, SocketAddr)]) -> Balancer {
        let Some(haproxy) = binary() else { super::missing("HAProxy", "apt-get install haproxy).", REQUIRE) };
        let addr: SocketAddr =
            TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let template = std::fs::read_to_string(root.join("haproxy.cfg")).expect("read deploy/haproxy.cfg");
        let lines: String =
            servers.iter().map(|(name, server)| format!("    server {name} {server}\n")).collect();
        let config: String = template
            .lines()
            .map(|line| match line {
                "{{SERVERS}}" => lines.clone(),
                line => {
                    let line = line.replace("{{BIND}}", &addr.to_string());
                    line.replace("{{ERRORS}}", &root.join("errors").display().to_string()) + "\n"
                }
            })
            .collect();
        let dir =
            std::env::temp_dir().join(format!("pollserve-haproxy-{}-{}", std::process::id(), addr.port()));
        std::fs::create_dir_all(&dir).expect("create the HAProxy directory");
        std::fs::write(dir.join("haproxy.cfg"), config).expect("write the HAProxy config");
        let child = Command::new(haproxy)
            .arg("-db")
            .arg("-f")
            .arg(dir.join("haproxy.cfg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start HAProxy");
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "HAProxy did not start listening");
            std::thread::sleep(Duration::from_millis(20)); // polling a real condition, bounded
        }
        Balancer { child, addr, dir }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
