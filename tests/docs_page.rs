//! `/docs` in a real browser: headless Chromium loads the page from a running server (every
//! file from the server itself) and the rendered page must list every operation of
//! `/openapi.json`.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use support::{TestServer, missing};

/// A Chromium to run: `POLLSERVE_CHROMIUM`, or the first of the usual names on `PATH`.
fn chromium() -> String {
    let candidates = std::env::var("POLLSERVE_CHROMIUM")
        .into_iter()
        .chain(["chromium", "chromium-browser", "google-chrome"].map(String::from));
    for candidate in candidates {
        let runs =
            Command::new(&candidate).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if runs.is_ok_and(|status| status.success()) {
            return candidate;
        }
    }
    missing("chromium", "apt-get install chromium)", "POLLSERVE_REQUIRE_CHROMIUM")
}

/// The page's DOM once its scripts have run (Chromium's virtual time: no waiting on the clock).
fn rendered(url: &str) -> String {
    let profile = std::env::temp_dir().join(format!("pollserve-chromium-{}", std::process::id()));
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(output.status.success(), "chromium failed: {:?}", output.status);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_docs_page_lists_every_operation_in_a_browser() {
    let server = TestServer::start(&[]);
    let response = server.connect().request(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
    let doc: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    assert!(operations.len() >= 20, "{operations:?}");
    let dom = rendered(&format!("http://{}/docs/", server.addr));
    // Swagger UI renders each operation as an `opblock` with its method and path.
    let shown: BTreeSet<(String, String)> = dom
        .split("opblock-summary-method\">")
        .skip(1)
        .filter_map(|block| {
            let method = block.split('<').next()?.to_owned();
            let path = block.split("data-path=\"").nth(1)?.split('"').next()?;
            Some((method, path.replace("&amp;", "&")))
        })
        .collect();
    assert_eq!(shown, operations, "the page shows the document's operations");
}
