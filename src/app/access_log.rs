//! The access log: one line per request on standard output, in one of three formats.
//!
//! Lines are buffered per worker and written by a logger thread (`logging`), so the loop
//! never waits on the terminal. Every format carries the time (RFC 3339, UTC), the client's
//! address, method, target, protocol version, status, body bytes sent (0 for HEAD), duration,
//! request id and user agent — except `combined`, which is exactly Apache's Combined Log
//! Format, so the tools that read it keep working.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::SystemTime;

use super::middleware::{Exchange, Middleware};
use super::request::Request;
use super::response::Response;
use crate::http::request::Method;
use crate::logging as log;

/// How access-log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLogFormat {
    /// `2026-11-30T07:20:00.123Z 127.0.0.1:50312 "GET /json HTTP/1.1" 200 27 0.041ms
    /// id=5f3a9c2e-0-1 "curl/8.5.0"`.
    #[default]
    Text,
    /// Apache's Combined Log Format: `127.0.0.1 - - [30/Nov/2026:07:20:00 +0000] "GET /json
    /// HTTP/1.1" 200 27 "-" "curl/8.5.0"`.
    Combined,
    /// One JSON object per line, with every field named.
    Json,
}

impl AccessLogFormat {
    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AccessLogFormat::Text => "text",
            AccessLogFormat::Combined => "combined",
            AccessLogFormat::Json => "json",
        }
    }

    /// The format named `name` (`text`, `combined` or `json`).
    pub fn from_name(name: &str) -> Option<AccessLogFormat> {
        match name {
            "text" => Some(AccessLogFormat::Text),
            "combined" => Some(AccessLogFormat::Combined),
            "json" => Some(AccessLogFormat::Json),
            _ => None,
        }
    }
}

/// What the access log keeps of a request from `before` to `after`.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    method: String,
    target: String,
    version: &'static str,
    client: Option<SocketAddr>,
    user_agent: Option<String>,
}

/// The access-log middleware.
#[derive(Debug, Default)]
pub struct AccessLog {
    format: AccessLogFormat,
}

impl AccessLog {
    /// Logs every request in `format`.
    pub fn new(format: AccessLogFormat) -> AccessLog {
        AccessLog { format }
    }
}

impl Middleware for AccessLog {
    fn before(&self, request: &Request<'_>, exchange: &mut Exchange) -> Option<Response> {
        exchange.access = Some(Box::new(AccessRecord {
            method: request.method_str().to_owned(),
            target: request.target().to_owned(),
            version: request.version(),
            client: request.peer(),
            user_agent: request.header("user-agent").map(|ua| String::from_utf8_lossy(ua).into_owned()),
        }));
        None
    }

    fn after(&self, exchange: &Exchange, response: &mut Response) {
        let line = Line {
            record: exchange.access.as_deref(),
            status: response.status.code(),
            bytes: if exchange.method == Method::Head { 0 } else { response.body.len() },
            micros: exchange.received.elapsed().as_micros(),
            request_id: exchange
                .request_id
                .as_ref()
                .map(|id| String::from_utf8_lossy(id.as_bytes()).into_owned()),
            time: SystemTime::now(),
        };
        let text = match self.format {
            AccessLogFormat::Text => line.text(),
            AccessLogFormat::Combined => line.combined(),
            AccessLogFormat::Json => line.json(),
        };
        log::access(format_args!("{text}"));
    }
}

/// One request's line, before it is formatted. A request refused before it was parsed has no
/// record: its method, target and version are `-`.
struct Line<'a> {
    record: Option<&'a AccessRecord>,
    status: u16,
    bytes: usize,
    micros: u128,
    request_id: Option<String>,
    time: SystemTime,
}

impl Line<'_> {
    fn client(&self) -> String {
        self.record.and_then(|r| r.client).map_or_else(|| "-".to_owned(), |c| c.to_string())
    }

    /// `"METHOD target VERSION"` (quoted, with `"` and `\` escaped as Apache does).
    fn request_line(&self) -> String {
        match self.record {
            Some(r) => format!("\"{} {} {}\"", escape(&r.method), escape(&r.target), r.version),
            None => "\"-\"".to_owned(),
        }
    }

    fn text(&self) -> String {
        let mut line = String::with_capacity(160);
        let time = humantime::format_rfc3339_millis(self.time);
        let _ =
            write!(line, "{time} {} {} {} {}", self.client(), self.request_line(), self.status, self.bytes);
        let _ = write!(line, " {}.{:03}ms", self.micros / 1000, self.micros % 1000);
        let _ = write!(line, " id={}", self.request_id.as_deref().unwrap_or("-"));
        let _ =
            write!(line, " \"{}\"", escape(self.record.and_then(|r| r.user_agent.as_deref()).unwrap_or("-")));
        line
    }

    fn combined(&self) -> String {
        let host = self.record.and_then(|r| r.client).map_or_else(|| "-".to_owned(), |c| c.ip().to_string());
        let bytes = if self.bytes == 0 { "-".to_owned() } else { self.bytes.to_string() };
        let agent = escape(self.record.and_then(|r| r.user_agent.as_deref()).unwrap_or("-"));
        format!(
            "{host} - - [{}] {} {} {bytes} \"-\" \"{agent}\"",
            clf_time(self.time),
            self.request_line(),
            self.status
        )
    }

    fn json(&self) -> String {
        let client = self.record.and_then(|r| r.client).map(|c| c.to_string());
        serde_json::json!({
            "time": humantime::format_rfc3339_millis(self.time).to_string(),
            "client": client,
            "method": self.record.map(|r| r.method.as_str()),
            "target": self.record.map(|r| r.target.as_str()),
            "version": self.record.map(|r| r.version),
            "status": self.status,
            "bytes": self.bytes,
            "duration_ms": self.micros as f64 / 1000.0,
            "request_id": self.request_id,
            "user_agent": self.record.and_then(|r| r.user_agent.as_deref()),
        })
        .to_string()
    }
}

/// A quoted field's text with `"`, `\` and control bytes escaped, so a line stays one line.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// The Common Log Format's time, in UTC: `30/Nov/2026:07:20:00 +0000`.
fn clf_time(time: SystemTime) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    // RFC 3339 is `YYYY-MM-DDTHH:MM:SSZ`: the fields, rearranged.
    let rfc = humantime::format_rfc3339_seconds(time).to_string();
    let month = rfc[5..7].parse::<usize>().unwrap_or(1).clamp(1, 12);
    format!("{}/{}/{}:{} +0000", &rfc[8..10], MONTHS[month - 1], &rfc[..4], &rfc[11..19])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn line(record: Option<&AccessRecord>) -> Line<'_> {
        Line {
            record,
            status: 200,
            bytes: 27,
            micros: 41,
            request_id: Some("abc-0-1".into()),
            time: UNIX_EPOCH + Duration::from_millis(1_796_023_200_123),
        }
    }

    fn record() -> AccessRecord {
        AccessRecord {
            method: "GET".into(),
            target: "/json?q=\"x\"".into(),
            version: "HTTP/1.1",
            client: Some("127.0.0.1:50312".parse().unwrap()),
            user_agent: Some("curl/8.5.0".into()),
        }
    }

    #[test]
    fn each_format_writes_every_field_it_has() {
        let record = record();
        assert_eq!(
            line(Some(&record)).text(),
            r#"2026-11-30T07:20:00.123Z 127.0.0.1:50312 "GET /json?q=\"x\" HTTP/1.1" 200 27 0.041ms id=abc-0-1 "curl/8.5.0""#
        );
        assert_eq!(
            line(Some(&record)).combined(),
            r#"127.0.0.1 - - [30/Nov/2026:07:20:00 +0000] "GET /json?q=\"x\" HTTP/1.1" 200 27 "-" "curl/8.5.0""#
        );
        let json: serde_json::Value = serde_json::from_str(&line(Some(&record)).json()).unwrap();
        assert_eq!(json["time"], "2026-11-30T07:20:00.123Z");
        assert_eq!(json["client"], "127.0.0.1:50312");
        assert_eq!((json["method"].as_str(), json["target"].as_str()), (Some("GET"), Some("/json?q=\"x\"")));
        assert_eq!((json["status"].as_u64(), json["bytes"].as_u64()), (Some(200), Some(27)));
        assert_eq!(
            (json["duration_ms"].as_f64(), json["request_id"].as_str()),
            (Some(0.041), Some("abc-0-1"))
        );
        assert_eq!(json["user_agent"], "curl/8.5.0");
    }

    #[test]
    fn a_refused_request_has_dashes_or_nulls_where_it_had_no_line() {
        assert!(line(None).text().contains(r#" - "-" 200 "#), "{}", line(None).text());
        assert!(line(None).combined().starts_with(r#"- - - ["#));
        let json: serde_json::Value = serde_json::from_str(&line(None).json()).unwrap();
        assert!(json["method"].is_null() && json["client"].is_null());
    }
}
