//! What a request's header fields say about its framing and persistence (RFC 9112 §6, §9.3),
//! and the checks on `Host` (RFC 9112 §3.2): one pass over the fields, after the head parsed.

use httparse::Header;

use super::error::RequestError;
use super::request_line::Version;

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// No body.
    #[default]
    Empty,
    /// `Content-Length: n` with n > 0.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// What the header fields say about framing and persistence, gathered in one pass.
#[derive(Debug, Default)]
pub struct HeaderFacts {
    /// How the body is delimited.
    pub framing: Framing,
    connection_close: bool,
    connection_keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expect_continue: bool,
}

impl HeaderFacts {
    /// Gathers the facts, or the first fault among the fields.
    pub fn collect(headers: &[Header<'_>], version: Version) -> Result<HeaderFacts, RequestError> {
        let mut facts = HeaderFacts::default();
        let mut content_length: Option<u64> = None;
        let mut codings = Codings::default();
        let mut hosts = 0;
        for header in headers {
            let name = header.name.as_bytes();
            let value = header.value;
            // The length picks the one name a field can be, so most fields cost one compare:
            // this runs for every field of every request.
            match name.len() {
                14 if name_is(name, b"content-length") => {
                    let n = parse_content_length(value)?;
                    if content_length.is_some_and(|previous| previous != n) {
                        return Err(RequestError::BadContentLength);
                    }
                    content_length = Some(n);
                }
                17 if name_is(name, b"transfer-encoding") => codings.add(value),
                10 if name_is(name, b"connection") => {
                    for token in list_elements(value) {
                        facts.connection_close |= token.eq_ignore_ascii_case(b"close");
                        facts.connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                    }
                }
                4 if name_is(name, b"host") => {
                    hosts += 1;
                    if !is_valid_host(value) {
                        return Err(RequestError::BadHost);
                    }
                }
                // RFC 9110 §10.1.1: a server ignores 100-continue from an HTTP/1.0 client.
                6 if version == Version::Http11 && name_is(name, b"expect") => {
                    if !value.eq_ignore_ascii_case(b"100-continue") {
                        return Err(RequestError::ExpectationFailed);
                    }
                    facts.expect_continue = true;
                }
                _ => {}
            }
        }
        if hosts > 1 || (hosts == 0 && version == Version::Http11) {
            return Err(RequestError::BadHost);
        }
        facts.framing = match (codings.seen, content_length) {
            (true, _) if version == Version::Http10 => {
                return Err(RequestError::BadTransferEncoding);
            }
            (true, Some(_)) => return Err(RequestError::ConflictingFraming),
            (true, None) => codings.framing()?,
            (false, Some(0) | None) => Framing::Empty,
            (false, Some(n)) => Framing::Length(n),
        };
        Ok(facts)
    }

    /// Whether the client wants the connection kept open after this response.
    pub fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.connection_close,
            Version::Http10 => self.connection_keep_alive && !self.connection_close,
        }
    }
}

/// Whether the field name `name` is `lower` (lowercase letters and `-`), ignoring case. `name`
/// is a token (httparse checked it), and OR-ing 0x20 into a token byte gives a lowercase letter
/// only for that letter in either case, and `-` only for `-`: no compare loop with early exits.
fn name_is(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len() && name.iter().zip(lower).fold(true, |same, (&b, &l)| same & (b | 0x20 == l))
}

/// `Content-Length = 1*DIGIT`, overflow-checked. `u64::from_str` would accept `+5`.
fn parse_content_length(value: &[u8]) -> Result<u64, RequestError> {
    if value.is_empty() {
        return Err(RequestError::BadContentLength);
    }
    value.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(RequestError::BadContentLength);
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(RequestError::BadContentLength)
    })
}

/// The transfer codings listed across all `Transfer-Encoding` fields.
#[derive(Debug, Default)]
struct Codings {
    seen: bool,
    chunked_count: u32,
    last_is_chunked: bool,
    unknown: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) {
        self.seen = true;
        for coding in list_elements(value) {
            // Parameters (`;q=…`) are not allowed on chunked and irrelevant to the others.
            let name = coding.split(|&b| b == b';').next().unwrap_or_default();
            let is_chunked = name.eq_ignore_ascii_case(b"chunked") && name.len() == coding.len();
            self.chunked_count += u32::from(is_chunked);
            self.unknown |= !is_chunked;
            self.last_is_chunked = is_chunked;
        }
    }

    /// RFC 9112 §6.3: chunked must be the final coding, and applied once.
    fn framing(&self) -> Result<Framing, RequestError> {
        if self.chunked_count > 1 || (self.chunked_count == 1 && !self.last_is_chunked) {
            return Err(RequestError::BadTransferEncoding);
        }
        if self.unknown {
            // pollserve decodes no content codings: gzip and friends are not implemented.
            return Err(RequestError::UnsupportedTransferCoding);
        }
        if self.chunked_count == 0 {
            return Err(RequestError::BadTransferEncoding);
        }
        Ok(Framing::Chunked)
    }
}

/// The non-empty elements of a comma-separated header list, trimmed of whitespace.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|e| !e.is_empty())
}

/// `Host = uri-host [ ":" port ]`: a reg-name, IPv4 or bracketed IP literal, optional port.
/// An empty value is allowed by RFC 9112 §3.2 (for targets without an authority).
/// The bytes of a host name (RFC 3986 `reg-name`: unreserved, sub-delims, and `%` of its
/// escapes), as a table: every request's `Host` goes through it.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
            );
        b += 1;
    }
    table
};

fn is_valid_host(value: &[u8]) -> bool {
    // The common case, a reg-name and maybe a port, walked once from the end: the port's
    // digits back to the colon, then the name's bytes (iterator chains cost twice as much here).
    let mut colon = value.len();
    for (at, &b) in value.iter().enumerate().rev() {
        if b == b':' {
            colon = at;
            break;
        }
        if !b.is_ascii_digit() {
            break;
        }
    }
    let mut other = false;
    for &b in &value[..colon] {
        other |= !REG_NAME[usize::from(b)];
    }
    if other {
        return is_valid_host_slowly(value); // an IP literal, or a fault
    }
    value.len() - colon <= 6 // the colon and at most five digits
}

/// [`is_valid_host`] for any value: IP literals, a colon in a reg-name (invalid), faults.
fn is_valid_host_slowly(value: &[u8]) -> bool {
    let (host, port) = match value.iter().rposition(|&b| b == b':') {
        Some(i) if !value.ends_with(b"]") => (&value[..i], Some(&value[i + 1..])),
        _ => (value, None),
    };
    let port_ok = port.is_none_or(|p| p.len() <= 5 && p.iter().all(u8::is_ascii_digit));
    let host_ok = if let Some(literal) = host.strip_prefix(b"[") {
        literal.strip_suffix(b"]").is_some_and(|ip| {
            !ip.is_empty() && ip.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        })
    } else {
        host.iter().all(|&b| REG_NAME[usize::from(b)])
    };
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_match_in_any_case_and_only_themselves() {
        const TCHAR: &[u8] = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for name in [&b"host"[..], b"expect", b"connection", b"content-length", b"transfer-encoding"] {
            let upper = name.to_ascii_uppercase();
            // Every token of the name's length that differs from it in one byte.
            for at in 0..name.len() {
                for &b in TCHAR {
                    let mut other = name.to_vec();
                    other[at] = b;
                    let expected = other.eq_ignore_ascii_case(name);
                    assert_eq!(name_is(&other, name), expected, "{:?}", other.escape_ascii().to_string());
                }
            }
            assert!(name_is(&upper, name));
        }
    }

    #[test]
    fn host_values_as_rfc_9112_allows_them() {
        for valid in [
            "",
            "localhost",
            "localhost:8000",
            "a.b-c_d~e",
            "h:",
            ":80",
            "[::1]",
            "[::1]:8080",
            "10.0.0.1:65535",
        ] {
            assert!(is_valid_host(valid.as_bytes()), "{valid:?} is valid");
        }
        for invalid in ["a b", "a/b", "a:b:c", "a:8x", "a:123456", "[::1", "[]", "[::1]x", "a@b", "a\u{e9}"] {
            assert!(!is_valid_host(invalid.as_bytes()), "{invalid:?} is invalid");
        }
    }

    #[test]
    fn field_names_are_matched_whatever_their_case() {
        let headers = [
            Header { name: "HOST", value: b"x" },
            Header { name: "content-LENGTH", value: b"5" },
            Header { name: "Connection", value: b"Close" },
        ];
        let facts = HeaderFacts::collect(&headers, Version::Http11).unwrap();
        assert_eq!(facts.framing, Framing::Length(5));
        assert!(!facts.keep_alive(Version::Http11));
    }
}
