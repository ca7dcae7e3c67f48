//! A test client for apps built with pollserve: build a request, get its status, headers and
//! parsed JSON back. Requests go through the real connection state machine on in-memory bytes
//! — parsing, routing, middleware, handlers, encoding — with no socket; deferred handlers
//! (`Context::defer`, `Context::run_blocking`) are waited for.
//!
//! ```
//! use pollserve::site::{self, AppOptions};
//! use pollserve::testing::TestClient;
//!
//! let client = TestClient::new(site::builtin(&AppOptions::default()));
//! let response = client.get("/hello/Ann?greeting=Hi");
//! assert_eq!(response.status, 200);
//! assert_eq!(response.json::<serde_json::Value>().unwrap()["message"], "Hi, Ann");
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::server::conn::{ConnConfig, State};
use crate::server::memory::Driver;

/// How long a deferred response is waited for before the test client gives up.
const DEFERRED_LIMIT: Duration = Duration::from_secs(30);

/// Sends requests to an app, each on a fresh in-memory connection.
pub struct TestClient {
    app: App,
}

impl TestClient {
    /// A client for `app`.
    pub fn new<S: Send + Sync + 'static>(app: App<S>) -> TestClient {
        TestClient { app: app.erase() }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> TestResponse {
        self.request("GET", path).send()
    }

    /// A request to build: add headers and a body, then [`TestRequest::send`] it.
    pub fn request(&self, method: &str, path: &str) -> TestRequest<'_> {
        TestRequest {
            client: self,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// A request being built.
pub struct TestRequest<'c> {
    client: &'c TestClient,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl TestRequest<'_> {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A JSON body (and its `Content-Type`).
    pub fn json(self, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.body(body, "application/json")
    }

    /// A body with its content type.
    pub fn body(mut self, body: impl Into<Vec<u8>>, content_type: &str) -> Self {
        self.body = body.into();
        self.header("Content-Type", content_type)
    }

    /// Sends it and returns the response (a deferred one is waited for, up to 30 s; a response
    /// that never came is status 0).
    pub fn send(self) -> TestResponse {
        let mut raw = format!("{} {} HTTP/1.1\r\nHost: test\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(&self.body);
        let mut driver = Driver::new(&self.client.app, ConnConfig::default()).deferring();
        let mut conn = driver.connect();
        driver.feed(&mut conn, &bytes);
        while matches!(conn.state(), State::Awaiting(_)) {
            if !driver.await_completion(&mut conn, DEFERRED_LIMIT) {
                break;
            }
        }
        TestResponse::parse(&conn.stream_mut().take_written())
    }
}

/// A response as the test client read it.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status code (0 when no response came).
    pub status: u16,
    /// The header fields, in order.
    pub headers: Vec<(String, String)>,
    /// The body (none for HEAD).
    pub body: Vec<u8>,
}

impl TestResponse {
    fn parse(bytes: &[u8]) -> TestResponse {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut fields);
        let Ok(httparse::Status::Complete(len)) = response.parse(bytes) else {
            return TestResponse { status: 0, headers: Vec::new(), body: Vec::new() };
        };
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
            .collect();
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let body = bytes.get(len..len + length).unwrap_or(&bytes[len..]).to_vec();
        TestResponse { status: response.code.unwrap_or(0), headers, body }
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, read into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{Context, HttpError, Request, Response};
    use crate::http::status::StatusCode;
    use crate::site::AppOptions;

    #[test]
    fn requests_go_through_routing_middleware_and_deferral() {
        let app = crate::site::builtin(&AppOptions::default()).post(
            "/double",
            |request: &Request<'_>, context: &mut Context<'_>| {
                let n: i64 = serde_json::from_slice::<serde_json::Value>(request.body())
                    .ok()
                    .and_then(|v| v["n"].as_i64())
                    .ok_or_else(|| HttpError::bad_request("n is required"))?;
                context.run_blocking(Duration::from_secs(5), move || {
                    Ok(Response::json(StatusCode::OK, &serde_json::json!({ "doubled": n * 2 })))
                })
            },
        );
        let client = TestClient::new(app);
        let doubled = client.request("POST", "/double").json(&serde_json::json!({ "n": 21 })).send();
        assert_eq!(doubled.status, 200);
        assert_eq!(doubled.json::<serde_json::Value>().unwrap()["doubled"], 42);
        assert!(doubled.header("x-request-id").is_some(), "the middleware ran");
        assert_eq!(client.request("POST", "/double").body("{}", "application/json").send().status, 400);
        assert_eq!(client.get("/nowhere").status, 404);
        assert_eq!(client.request("DELETE", "/json").send().header("allow"), Some("GET, HEAD, OPTIONS"));
    }
}
