//! The request view handlers get: the parsed head and body borrowed from the connection's
//! buffer, the route's path parameters, and typed helpers (query, JSON body, parameters).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::de::DeserializeOwned;

use super::query::Query;
use super::response::HttpError;
use super::router::Params;
use crate::http::request::{self as http, Method};
use crate::http::status::StatusCode;

/// One request, as a handler sees it. Everything is borrowed; nothing was copied to build it.
#[derive(Debug)]
pub struct Request<'a> {
    inner: &'a http::Request<'a>,
    params: Params<'a>,
    peer: Option<SocketAddr>,
}

impl<'a> Request<'a> {
    /// Wraps a parsed request with its route parameters and the client's address.
    pub fn new(inner: &'a http::Request<'a>, params: Params<'a>, peer: Option<SocketAddr>) -> Self {
        Request { inner, params, peer }
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.inner.head.method
    }

    /// The method token as sent (`GET`, `PATCH`, `BREW` …).
    pub fn method_str(&self) -> &'a str {
        self.inner.head.method_token
    }

    /// The request target exactly as sent.
    pub fn target(&self) -> &'a str {
        http::text(self.inner.head.target)
    }

    /// The path, still percent-encoded.
    pub fn path(&self) -> &'a str {
        http::text(self.inner.head.path)
    }

    /// The raw query string after `?`, if any.
    pub fn query_str(&self) -> Option<&'a str> {
        self.inner.head.query.map(http::text)
    }

    /// The decoded query (400 on an invalid encoding).
    pub fn query(&self) -> Result<Query<'a>, HttpError> {
        Query::parse(self.query_str().unwrap_or(""))
    }

    /// `HTTP/1.0` or `HTTP/1.1`.
    pub fn version(&self) -> &'static str {
        match self.inner.head.version {
            http::Version::Http10 => "HTTP/1.0",
            http::Version::Http11 => "HTTP/1.1",
        }
    }

    /// Header fields in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.inner.head.headers.iter().map(|h| (h.name, h.value))
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.inner.header(name)
    }

    /// The body (decoded, if it was chunked).
    pub fn body(&self) -> &'a [u8] {
        self.inner.body
    }

    /// The client's address, when known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// A path parameter's decoded value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_ref())
    }

    /// A path parameter parsed to a type: 400 naming the parameter when it does not parse.
    pub fn param_as<T: FromStr>(&self, name: &str) -> Result<T, HttpError> {
        let raw = self.param(name).ok_or_else(|| HttpError::internal(format!("route has no {{{name}}}")))?;
        raw.parse()
            .map_err(|_| HttpError::bad_request(format!("path parameter {name:?} is invalid: {raw:?}")))
    }

    /// All path parameters, in pattern order.
    pub fn params(&self) -> &Params<'a> {
        &self.params
    }

    /// The body as JSON: 415 unless `Content-Type` is JSON, 400 saying where the JSON is wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        let content_type = self.header("content-type").unwrap_or_default();
        let essence = content_type.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
        let is_json = essence.eq_ignore_ascii_case(b"application/json")
            || (essence.len() > 5 && essence[essence.len() - 5..].eq_ignore_ascii_case(b"+json"));
        if !is_json {
            return Err(HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            ));
        }
        serde_json::from_slice(self.body()).map_err(|e| {
            let message: Cow<'static, str> = format!("invalid JSON body: {e}").into();
            HttpError::bad_request(message)
        })
    }
}
