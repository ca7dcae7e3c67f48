//! The request line (RFC 9112 §3): `method SP request-target SP HTTP-version CRLF`, found,
//! checked and split in one left-to-right pass.
//!
//! Every verdict is taken at one byte, from the bytes before it only: the first byte that
//! cannot belong to a valid line decides the error, and a buffer that ends before any decisive
//! byte is [`Parsed::Partial`]. So the same bytes get the same answer however the network split
//! them — by construction, not by patching a general parser (the `conn` fuzz target checks it).
//! The faults, in the order the pass meets them:
//! - a bare LF, anywhere in the line or the empty lines before it: "line not ended by CRLF";
//! - any other byte that does not fit where it stands (a CR not followed by LF included):
//!   "invalid request line";
//! - more than [`MAX_REQUEST_LINE`] bytes without the line's end: 414;
//! - a well-formed version other than 1.0 or 1.1 (`HTTP/2`, `HTTP/1.2`): 505, once the rest of
//!   the line has arrived and holds only printable ASCII.

use super::error::RequestError;

/// Longest request line accepted; a longer one is answered with 414. nginx's default buffer
/// for a request line is 8 KiB (`large_client_header_buffers`).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;

/// The outcome of parsing bytes that may hold only the start of something: httparse's
/// `Status`, the chunked decoder's `Progress`. "Not yet" is a status, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The whole thing was there.
    Complete(T),
    /// More bytes are needed before anything can be said.
    Partial,
}

impl<T> Parsed<T> {
    /// The complete value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Parsed::Complete(value) => Some(value),
            Parsed::Partial => None,
        }
    }
}

/// Request methods pollserve distinguishes; anything else is [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// HEAD: the GET response without its body.
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// OPTIONS
    Options,
    /// CONNECT
    Connect,
    /// TRACE
    Trace,
    /// A syntactically valid method pollserve does not know (answered with 501).
    Other,
}

impl Method {
    /// The method's token; `"?"` for [`Method::Other`], whose token only the request has.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Other => "?",
        }
    }

    fn from_token(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"OPTIONS" => Method::Options,
            b"CONNECT" => Method::Connect,
            b"TRACE" => Method::Trace,
            _ => Method::Other,
        }
    }
}

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: closes after each response unless the client asked for keep-alive.
    Http10,
    /// HTTP/1.1: persistent unless `Connection: close`.
    Http11,
}

/// A request line, borrowed from the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// The method as pollserve knows it.
    pub method: Method,
    /// The method token exactly as sent.
    pub method_token: &'a str,
    /// The request target exactly as sent: visible ASCII, so [`text`] of it is the same.
    pub target: &'a [u8],
    /// Where the target's first `?` is, if it has one.
    pub query_at: Option<usize>,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// Bytes from the start of the buffer through the line's CRLF, empty lines before it
    /// included: the header block starts here.
    pub len: usize,
}

/// The answer for a line ended by LF alone (RFC 9112 §2.2 lets a recipient reject it; a front
/// end that splits lines only at CRLF would see a different request).
pub const BARE_LF: RequestError = RequestError::Malformed("line not ended by CRLF");

const INVALID: RequestError = RequestError::Malformed("invalid request line");

/// Parses the request line at the start of `buf`, after any empty lines (RFC 9112 §2.2).
pub fn parse(buf: &[u8]) -> Result<Parsed<RequestLine<'_>>, RequestError> {
    let mut start = 0;
    while buf[start..].starts_with(b"\r\n") {
        start += 2;
    }
    if buf[start..] == *b"\r" {
        return Ok(Parsed::Partial); // one more empty line, or a fault: the next byte tells
    }
    // Nothing decisive can lie past the length limit: byte MAX_REQUEST_LINE of the line is
    // either the start of its CRLF or the 414.
    let line = &buf[start..buf.len().min(start + MAX_REQUEST_LINE + 2)];
    let (known, method_len) = match line.get(..4) {
        // Most requests: no table walk for the method.
        Some(b"GET ") => (Some(Method::Get), 3),
        _ => (None, span(line, 0, &TCHAR)),
    };
    let target_start = method_len + 1;
    // The target up to its first `?` and then the rest: the query is found on the way.
    let before_query = span_target(line, target_start, true);
    let target_len = match line.get(target_start + before_query) {
        Some(b'?') => before_query + 1 + span_target(line, target_start + before_query + 1, false),
        _ => before_query,
    };
    let version_start = target_start + target_len + 1;
    let fault = if method_len == 0 {
        Some(0)
    } else if line.get(method_len).is_some_and(|&b| b != b' ') {
        Some(method_len)
    } else if target_len == 0 || line.get(target_start + target_len).is_some_and(|&b| b != b' ') {
        Some(target_start + target_len)
    } else {
        None
    };
    if let Some(at) = fault {
        return judge(line, at, false);
    }
    let end = version_start + VERSION_LEN;
    // As an array, not a slice, so the comparison is two integer compares and no call.
    let common: Option<&[u8; VERSION_LEN + 2]> =
        line.get(version_start..end + 2).and_then(|b| b.try_into().ok());
    // Most requests: one comparison for the version and the line's end.
    let version = if common == Some(b"HTTP/1.1\r\n") {
        Version::Http11
    } else {
        match version(line.get(version_start..).unwrap_or_default()) {
            Err(at) => return judge(line, version_start + at, false),
            Ok(Parsed::Partial) => return judge(line, line.len(), false),
            Ok(Parsed::Complete(Err(at))) => return unsupported(line, version_start + at),
            Ok(Parsed::Complete(Ok(version))) => match line.get(end..end + 2) {
                Some(b"\r\n") => version,
                _ => return judge(line, end, true),
            },
        }
    };
    let method = known.unwrap_or_else(|| Method::from_token(&line[..method_len]));
    Ok(Parsed::Complete(RequestLine {
        method,
        method_token: match method {
            Method::Other => text(&line[..method_len]),
            known => known.as_str(),
        },
        // Kept as bytes: a UTF-8 check of the target cost a twentieth of a pipelined request,
        // and routing does not need one (see `text`).
        target: &line[target_start..target_start + target_len],
        query_at: (before_query < target_len).then_some(before_query),
        version,
        len: start + end + 2,
    }))
}

/// Bytes of a parsed head that its parsers admit only as visible ASCII (the request line's
/// method, target, path and query; header names, which are tokens) as text: never the empty
/// fallback. It is a check, not a conversion, and runs only where a `&str` is asked for (a
/// handler reading its path, the router's slow walk, a head viewed again for its body).
pub fn text(ascii: &[u8]) -> &str {
    std::str::from_utf8(ascii).unwrap_or_default()
}

/// The length of `HTTP/1.1`.
const VERSION_LEN: usize = 8;

/// The verdict when byte `at` of `line` does not fit the grammar (or `at` is the buffer's end):
/// the length limit, a bare LF, or a plain fault. Where the line may end (`may_end`; its CRLF
/// was looked for already), a CR at the buffer's end may be the start of that CRLF: wait.
fn judge(line: &[u8], at: usize, may_end: bool) -> Result<Parsed<RequestLine<'_>>, RequestError> {
    if at > MAX_REQUEST_LINE {
        return Err(RequestError::UriTooLong);
    }
    match line.get(at) {
        None => Ok(Parsed::Partial),
        Some(b'\n') => Err(BARE_LF),
        Some(b'\r') if may_end && at + 1 == line.len() => Ok(Parsed::Partial),
        Some(_) => Err(INVALID),
    }
}

/// A well-formed version other than 1.0 and 1.1, recognised at `at`: 505 once the rest of the
/// line is printable ASCII ended by CRLF; any other fault on the way decides instead.
fn unsupported(line: &[u8], at: usize) -> Result<Parsed<RequestLine<'_>>, RequestError> {
    let rest = span(line, at, &PRINTABLE);
    let end = at + rest;
    if end > MAX_REQUEST_LINE {
        return Err(RequestError::UriTooLong);
    }
    match line.get(end..end + 2) {
        Some(b"\r\n") => Err(RequestError::UnsupportedVersion),
        _ => judge(line, end, true),
    }
}

/// Checks `HTTP/1.0` or `HTTP/1.1` at the start of `bytes`. `Err(at)`: byte `at` does not fit.
/// `Complete(Err(at))`: a well-formed version other than those two, recognised at byte `at`
/// (`HTTP/2`: the major digit; `HTTP/1.2`: the minor one).
fn version(bytes: &[u8]) -> Result<Parsed<Result<Version, usize>>, usize> {
    const PREFIX: &[u8] = b"HTTP/";
    for (at, (&got, &want)) in bytes.iter().zip(PREFIX).enumerate() {
        if got != want {
            return Err(at);
        }
    }
    let major = PREFIX.len();
    match bytes.get(major) {
        None => return Ok(Parsed::Partial),
        Some(b'1') => {}
        Some(digit) if digit.is_ascii_digit() => return Ok(Parsed::Complete(Err(major + 1))),
        Some(_) => return Err(major),
    }
    match bytes.get(major + 1) {
        None => return Ok(Parsed::Partial),
        Some(b'.') => {}
        Some(_) => return Err(major + 1),
    }
    match bytes.get(major + 2) {
        None => Ok(Parsed::Partial),
        Some(b'0') => Ok(Parsed::Complete(Ok(Version::Http10))),
        Some(b'1') => Ok(Parsed::Complete(Ok(Version::Http11))),
        Some(digit) if digit.is_ascii_digit() => Ok(Parsed::Complete(Err(major + 3))),
        Some(_) => Err(major + 2),
    }
}

/// How many bytes from `from` on are in `table`.
fn span(line: &[u8], from: usize, table: &[bool; 256]) -> usize {
    let bytes = line.get(from..).unwrap_or_default();
    let mut n = 0;
    while n < bytes.len() && table[usize::from(bytes[n])] {
        n += 1;
    }
    n
}

/// [`span`] over a request target: eight bytes at a time while all eight are visible ASCII
/// (and no `?` when `stop_at_query`), then byte by byte to the exact end. Half the work of the
/// byte loop on a typical path; the same answer (a unit test compares them).
fn span_target(line: &[u8], from: usize, stop_at_query: bool) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let bytes = line.get(from..).unwrap_or_default();
    let mut n = 0;
    for chunk in bytes.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else { break };
        let x = u64::from_ne_bytes(word);
        let below = x.wrapping_sub(ONES * 0x21) & !x; // a byte under 0x21 (space, controls)
        let above = x.wrapping_add(ONES) | x; // a byte over 0x7e (DEL, non-ASCII)
        let q = x ^ (ONES * u64::from(b'?'));
        let query = if stop_at_query { q.wrapping_sub(ONES) & !q } else { 0 };
        if (below | above | query) & HIGH != 0 {
            break;
        }
        n += 8;
    }
    let table = if stop_at_query { &TARGET_BEFORE_QUERY } else { &TARGET };
    n + span(bytes, n, table)
}

/// A table of the bytes `$b` for which `$accept` holds, built at compile time.
macro_rules! byte_table {
    (|$b:ident| $accept:expr) => {{
        let mut table = [false; 256];
        let mut i = 0;
        while i < 256 {
            let $b = i as u8;
            table[i] = $accept;
            i += 1;
        }
        table
    }};
}

/// `tchar` (RFC 9110 §5.6.2): the bytes of a method.
static TCHAR: [bool; 256] = byte_table!(|b| b.is_ascii_alphanumeric()
    || matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_')
    || matches!(b, b'`' | b'|' | b'~'));

/// The bytes of a request target: visible ASCII (RFC 3986 is checked later, per form, and by
/// the router; a space ends the target).
static TARGET: [bool; 256] = byte_table!(|b| b.is_ascii_graphic());

/// [`TARGET`] without `?`.
static TARGET_BEFORE_QUERY: [bool; 256] = byte_table!(|b| b.is_ascii_graphic() && b != b'?');

/// What may follow an unsupported version before the line's end: printable ASCII and DEL.
static PRINTABLE: [bool; 256] = byte_table!(|b| b >= 0x20 && b < 0x80);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_span_eight_at_a_time_matches_the_byte_loop() {
        // Every byte value at every position of a 19-byte target (two words and a tail),
        // behind a varying start, with and without stopping at `?`.
        for at in 0..19 {
            for byte in 0..=255u8 {
                let mut line = b"x/abcdefgh/ijklmnopq HTTP/1.1".to_vec();
                line[1 + at] = byte;
                for from in 0..3 {
                    for (stop, table) in [(true, &TARGET_BEFORE_QUERY), (false, &TARGET)] {
                        assert_eq!(
                            span_target(&line, from, stop),
                            span(&line, from, table),
                            "{byte} at {at}"
                        );
                    }
                }
            }
        }
    }

    fn verdict(raw: &[u8]) -> Result<Option<(Method, &str, Version, usize)>, RequestError> {
        parse(raw).map(|p| p.complete().map(|l| (l.method, text(l.target), l.version, l.len)))
    }

    #[test]
    fn splits_a_line_and_counts_empty_lines_before_it() {
        assert_eq!(
            verdict(b"GET /a?b HTTP/1.1\r\nHost"),
            Ok(Some((Method::Get, "/a?b", Version::Http11, 19)))
        );
        assert_eq!(
            verdict(b"\r\n\r\nPOST * HTTP/1.0\r\n"),
            Ok(Some((Method::Post, "*", Version::Http10, 21)))
        );
        assert_eq!(verdict(b"BREW /pot HTTP/1.1\r\n").unwrap().unwrap().0, Method::Other);
    }

    #[test]
    fn every_fault_has_one_answer_and_every_prefix_agrees() {
        let invalid = Err(INVALID);
        let cases: &[(&[u8], Result<(), RequestError>)] = &[
            (b"GET / HTTP/1.1\r\n", Ok(())),
            (b"G(T / HTTP/1.1\r\n", invalid),
            (b" GET / HTTP/1.1\r\n", invalid),
            (b"GET  / HTTP/1.1\r\n", invalid),
            (b"GET /\x7f HTTP/1.1\r\n", invalid),
            (b"GET /\x80 HTTP/1.1\r\n", invalid),
            (b"GET /a\rb HTTP/1.1\r\n", invalid),
            (b"GET\r\n", invalid),
            (b"GET / HTTP/1.1x\r\n", invalid),
            (b"GET / HTTP/1.1 \r\n", invalid),
            (b"GET / HTTP/1\r\n", invalid),
            (b"GET / HTTP/1.x\r\n", invalid),
            (b"GET / http/1.1\r\n", invalid),
            (b"GET / HTTP/2.0\x80\r\n", invalid),
            (b"GET / HTTP/2.0\r\n", Err(RequestError::UnsupportedVersion)),
            (b"GET / HTTP/2\r\n", Err(RequestError::UnsupportedVersion)),
            (b"GET / HTTP/1.2 x\x7f\r\n", Err(RequestError::UnsupportedVersion)),
            (b"PRI * HTTP/2.0\r\n", Err(RequestError::UnsupportedVersion)),
            (b"\nGET / HTTP/1.1\r\n", Err(BARE_LF)),
            (b"\r\n\nGET / HTTP/1.1\r\n", Err(BARE_LF)),
            (b"GET\n", Err(BARE_LF)),
            (b"GET / HTTP/1.\n", Err(BARE_LF)),
            (b"GET / HTTP/1.1\n", Err(BARE_LF)),
            (b"GET / HTTP/2.0\n", Err(BARE_LF)),
        ];
        for (raw, expected) in cases {
            let whole = parse(raw).map(|_| ());
            assert_eq!(&whole, expected, "{}", raw.escape_ascii());
            for end in 0..raw.len() {
                let prefix = parse(&raw[..end]).map(|p| p.complete().map(|_| ()));
                assert!(
                    prefix == Ok(None) || prefix.map(|_| ()) == *expected,
                    "{} cut at {end}",
                    raw.escape_ascii()
                );
            }
        }
    }

    #[test]
    fn a_line_longer_than_the_limit_is_414_whatever_follows() {
        let long = |tail: &str| format!("GET /{}{tail}", "a".repeat(MAX_REQUEST_LINE));
        for tail in [" HTTP/1.1\r\n", " HTTP/2.0\r\n", "\x7f HTTP/1.1\r\n", ""] {
            let raw = long(tail);
            assert_eq!(parse(raw.as_bytes()).map(|_| ()), Err(RequestError::UriTooLong), "{tail:?}");
        }
        let fits = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST_LINE - 15));
        assert!(parse(fits.as_bytes()).unwrap().complete().is_some());
    }
}
