//! Request heads: parsing (httparse underneath), the framing rules of RFC 9112 §6, and the
//! borrowed [`Request`] view handlers see.
//!
//! Everything here is a pure function of bytes. [`parse_head`] answers "partial" (wait for more
//! bytes), a complete [`Head`], or a [`RequestError`] that [`RequestError::status`] maps to its
//! status code. The same bytes give the same answer however they were split on the wire.

use std::mem::MaybeUninit;

use httparse::Header;

use super::error::RequestError;

/// Most header fields one request may carry; one more is answered with 431. Browsers send ~15;
/// nginx and hyper cap around 100. 64 keeps the parser's stack array at 2 KiB.
pub const MAX_HEADERS: usize = 64;

/// Longest request line accepted; a longer one is answered with 414. nginx's default buffer
/// for a request line is 8 KiB (`large_client_header_buffers`).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;

/// Uninitialised storage for one parse's header slots, kept on the caller's stack.
pub type HeaderSlots<'a> = [MaybeUninit<Header<'a>>; MAX_HEADERS];

/// Fresh header slots for [`parse_head`].
pub fn header_slots<'a>() -> HeaderSlots<'a> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
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
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            "CONNECT" => Method::Connect,
            "TRACE" => Method::Trace,
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

/// A parsed request head: borrowed from the read buffer, plus the framing facts the connection
/// needs before it can find the body.
#[derive(Debug)]
pub struct Head<'a> {
    /// The method as pollserve knows it.
    pub method: Method,
    /// The method token exactly as sent.
    pub method_token: &'a str,
    /// The request target exactly as sent (origin-, absolute-, authority- or asterisk-form).
    pub target: &'a str,
    /// The path part of the target (`/` for an absolute-form target with no path).
    pub path: &'a str,
    /// The raw query after `?`, if any.
    pub query: Option<&'a str>,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// Header fields in the order received.
    pub headers: &'a [Header<'a>],
    /// Length of the head in bytes, through the empty line.
    pub len: usize,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the client wants the connection kept open after this response.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expect_continue: bool,
}

/// Parses the request head at the start of `buf`, which may hold less than a head (then
/// `Ok(None)`) or more (pipelined requests and bodies after it).
///
/// `max_head_bytes` bounds the head: once `buf` holds that many bytes without a complete head,
/// the answer is 414 (request line) or 431 (header block).
pub fn parse_head<'a>(
    buf: &'a [u8],
    slots: &'a mut HeaderSlots<'a>,
    max_head_bytes: usize,
) -> Result<Option<Head<'a>>, RequestError> {
    // Only the first `max_head_bytes` can belong to an acceptable head. Looking further would let
    // the answer depend on how much happened to be buffered: junk past the limit would give 400
    // when it arrived together and 431 when it trickled in (found by the conn fuzz target).
    let buf = &buf[..buf.len().min(max_head_bytes)];
    // A bare LF is no line ending here (RFC 9112 §2.2 lets a recipient reject it; a front end
    // that splits lines only at CRLF would see a different request). httparse accepts one, so
    // the line ends it found in a complete head are checked (a few bytes: this runs for every
    // request); a partial or faulty head is scanned in one branch-free pass.
    let head = parse_crlf_head(buf, slots, max_head_bytes);
    let bare_lf_possible = match &head {
        Ok(Some(head)) => !lines_end_with_crlf(buf, head),
        _ => has_bare_lf(buf),
    };
    if !bare_lf_possible {
        return head;
    }
    match (judge_bare_lf(buf, max_head_bytes), head) {
        (Some(error), _) => Err(error),
        (None, head) => head,
    }
}

/// The answer for a head with a bare LF: judge only the bytes before the first one, so a fault
/// earlier in the head is reported exactly as when those bytes came alone, and otherwise the bare
/// LF is. `None` when the head has none (a bare LF after it belongs to the body).
fn judge_bare_lf(buf: &[u8], max_head_bytes: usize) -> Option<RequestError> {
    let at = first_bare_lf(buf)?;
    // Those bytes cannot hold a complete head: the answer is an error, or the bare LF's.
    Some(parse_crlf_head(&buf[..at], &mut header_slots(), max_head_bytes).err().unwrap_or(BARE_LF))
}

/// Whether every line of a complete `head` parsed from `buf` ends with CRLF. httparse found the
/// lines, so the two bytes before each field line, before the final empty line and at the end
/// tell it all (and any empty lines before the request line are CRLF pairs or not): a handful
/// of comparisons, not a pass over every byte.
fn lines_end_with_crlf(buf: &[u8], head: &Head<'_>) -> bool {
    let offset = |part: &[u8]| part.as_ptr() as usize - buf.as_ptr() as usize;
    let crlf_before = |at: usize| at >= 2 && buf[at - 2..at] == *b"\r\n";
    let request_line = offset(head.method_token.as_bytes());
    let empty_lines_ok = buf[..request_line].chunks(2).all(|pair| pair == b"\r\n");
    empty_lines_ok
        && head.headers.iter().all(|header| crlf_before(offset(header.name.as_bytes())))
        && crlf_before(head.len)
        && crlf_before(head.len - 2)
}

/// Whether any LF in `bytes` lacks the CR before it. Each byte is paired with the one before
/// it over two equal-length slices and folded without an early exit, so the compiler vectorises
/// it: 5 ns for 40 bytes, 17 ns for 476 (a per-line search was 4× that). For partial heads.
fn has_bare_lf(bytes: &[u8]) -> bool {
    let Some((&first, rest)) = bytes.split_first() else { return false };
    let before = &bytes[..rest.len()];
    let bare = rest
        .iter()
        .zip(before)
        .fold(0u8, |bare, (&byte, &prev)| bare | (u8::from(byte == b'\n') & u8::from(prev != b'\r')));
    first == b'\n' || bare != 0
}

/// The error for a line of the head ended by LF alone.
const BARE_LF: RequestError = RequestError::Malformed("line not ended by CRLF");

/// Where the first LF not preceded by CR lies in the head at the start of `buf`: in the empty
/// lines before the request line, the request line, a field line or the empty line that ends the
/// head. `None` when every line so far ends with CRLF; bytes after the head are not looked at.
fn first_bare_lf(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    // Empty lines before the request line (RFC 9112 §2.2), skipped as httparse skips them.
    while buf[line_start..].starts_with(b"\r\n") {
        line_start += 2;
    }
    let first_line = line_start;
    for lf in memchr::memchr_iter(b'\n', &buf[line_start..]) {
        let at = first_line + lf;
        if at == 0 || buf[at - 1] != b'\r' {
            return Some(at);
        }
        if at - 1 == line_start {
            return None; // the empty line: the head is complete
        }
        line_start = at + 1;
    }
    None
}

/// [`parse_head`] as httparse reads the bytes, where a bare LF ends a line too.
fn parse_crlf_head<'a>(
    buf: &'a [u8],
    slots: &'a mut HeaderSlots<'a>,
    max_head_bytes: usize,
) -> Result<Option<Head<'a>>, RequestError> {
    // The same bytes must get the same answer however they were split (the fuzz targets check
    // exactly that). So every fault in the request line gets one answer, "invalid request
    // line", whichever byte revealed it first; only a well-formed HTTP/2+ version gets 505, and
    // only once its line is complete.
    // Found once and reused: this runs for every request, pipelined ones included.
    let (line, line_complete) = first_line(buf);
    check_request_line_bytes(line)?;
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return check_partial(buf, line, max_head_bytes).map(|()| None),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(httparse::Error::Version) => match version_error(line) {
            // Wait for the rest of the line: a non-ASCII byte in it would make it a 400.
            RequestError::UnsupportedVersion if !line_complete => {
                return check_partial(buf, line, max_head_bytes).map(|()| None);
            }
            error => return Err(error),
        },
        Err(httparse::Error::NewLine) if !request_line_is_valid(line, line_complete) => {
            return Err(RequestError::Malformed("invalid request line"));
        }
        Err(e) => return Err(RequestError::Malformed(malformed_message(e))),
    };
    let (Some(method_token), Some(target), Some(minor)) = (request.method, request.path, request.version)
    else {
        return Err(RequestError::Malformed("incomplete request line"));
    };
    check_request_line_length(line)?;
    if len > max_head_bytes {
        return Err(RequestError::HeadersTooLarge);
    }
    let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
    let method = Method::from_token(method_token);
    let (path, query) = split_target(method, target)?;
    let headers: &'a [Header<'a>] = request.headers;
    let facts = HeaderFacts::collect(headers, version)?;
    Ok(Some(Head {
        method,
        method_token,
        target,
        path,
        query,
        version,
        headers,
        len,
        framing: facts.framing,
        keep_alive: facts.keep_alive(version),
        expect_continue: facts.expect_continue,
    }))
}

/// The request line is ASCII (RFC 9112 §3: method, URI and version are all ASCII). Checked here,
/// not left to httparse, because httparse's SIMD and scalar paths disagree on bytes >= 0x80 in the
/// target: the same bytes gave 431 delivered whole and 400 delivered one at a time (found by the
/// `conn` fuzz target). Only the request line ([`first_line`]) is looked at; the message is the
/// one httparse gives for a bad request line, so a prefix and the whole answer alike.
fn check_request_line_bytes(line: &[u8]) -> Result<(), RequestError> {
    // Without an early exit the compiler vectorises the scan; lines are short, faults rare.
    let invalid = line.iter().fold(false, |invalid, &b| invalid | !(0x20..0x80).contains(&b));
    if invalid {
        return Err(RequestError::Malformed("invalid request line"));
    }
    Ok(())
}

/// The request line without its line ending, and whether it is terminated. Empty lines before
/// it are skipped exactly as httparse skips them (CRLF or LF; a CR followed by anything else is
/// part of the line). A CR at the very end of the buffer may be the start of a CRLF, so it is
/// left out until the next byte shows.
fn first_line(buf: &[u8]) -> (&[u8], bool) {
    let mut rest = buf;
    loop {
        if let Some(after) = rest.strip_prefix(b"\r\n") {
            rest = after;
        } else if let Some(after) = rest.strip_prefix(b"\n") {
            rest = after;
        } else {
            break;
        }
    }
    match memchr::memchr(b'\n', rest) {
        Some(end) => (rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]), true),
        None => (rest.strip_suffix(b"\r").unwrap_or(rest), false),
    }
}

/// Whether the request line ([`first_line`]) is complete and `METHOD SP TARGET SP HTTP/1.x`, so
/// that a line-ending fault httparse reports must lie in the header section.
fn request_line_is_valid(line: &[u8], complete: bool) -> bool {
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    complete
        && parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && (parts[2] == b"HTTP/1.1" || parts[2] == b"HTTP/1.0")
}

/// A partial head (whose request line, maybe partial, is `line`) is fine until it reaches the
/// size limits.
fn check_partial(buf: &[u8], line: &[u8], max_head_bytes: usize) -> Result<(), RequestError> {
    check_request_line_length(line)?;
    if buf.len() >= max_head_bytes {
        return Err(RequestError::HeadersTooLarge);
    }
    Ok(())
}

/// 414 once the request line (complete or not, as [`first_line`] finds it) is longer than
/// [`MAX_REQUEST_LINE`]: one measure for partial and complete heads, so the answer does not depend
/// on whether the line end had arrived.
fn check_request_line_length(line: &[u8]) -> Result<(), RequestError> {
    if line.len() > MAX_REQUEST_LINE {
        return Err(RequestError::UriTooLong);
    }
    Ok(())
}

/// httparse reports every bad version alike; a well-formed `HTTP/2.0` deserves 505, junk 400.
/// httparse stops at the first byte that cannot be HTTP/1.x (`HTTP/2` is enough), so only that
/// much is looked at: whatever follows cannot change the answer, however the bytes arrived.
/// `line` is the request line as [`first_line`] finds it.
fn version_error(line: &[u8]) -> RequestError {
    let token = line.splitn(3, |&b| b == b' ').nth(2).unwrap_or_default();
    let version = match token {
        [b'H', b'T', b'T', b'P', b'/', major, ..] if *major != b'1' => &token[..6],
        _ => &token[..token.len().min(8)],
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            RequestError::UnsupportedVersion
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() && *major != b'1' => {
            RequestError::UnsupportedVersion
        }
        _ => RequestError::Malformed("invalid request line"),
    }
}

fn malformed_message(error: httparse::Error) -> &'static str {
    match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending in the header section",
        httparse::Error::Token => "invalid request line",
        _ => "malformed request",
    }
}

/// Splits a request target into path and query, accepting the four forms of RFC 9112 §3.2.
fn split_target(method: Method, target: &str) -> Result<(&str, Option<&str>), RequestError> {
    let path_and_query = if target.starts_with('/') {
        target
    } else if let Some(rest) = strip_scheme(target) {
        // absolute-form: skip the authority; the path starts at the first '/' (or is empty).
        let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
        match &rest[path_start..] {
            "" => "/",
            p if p.starts_with('?') => return Ok(("/", Some(&p[1..]))),
            p => p,
        }
    } else if target == "*" && method == Method::Options {
        return Ok(("*", None));
    } else if method == Method::Connect {
        return Ok((target, None));
    } else {
        return Err(RequestError::Malformed("invalid request target"));
    };
    // A plain scan of the bytes: `str::split_once(char)` (and memchr) set up a searcher that
    // costs more than the scan of a short target. '?' is ASCII: the cut is a char boundary.
    Ok(match path_and_query.as_bytes().iter().position(|&b| b == b'?') {
        Some(at) => (&path_and_query[..at], Some(&path_and_query[at + 1..])),
        None => (path_and_query, None),
    })
}

fn strip_scheme(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_at_checked(target.find("://")?)?;
    let known = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    known.then(|| &rest[3..])
}

/// What the header fields say about framing and persistence, gathered in one pass.
#[derive(Debug, Default)]
struct HeaderFacts {
    framing: Framing,
    connection_close: bool,
    connection_keep_alive: bool,
    expect_continue: bool,
}

impl HeaderFacts {
    fn collect(headers: &[Header<'_>], version: Version) -> Result<HeaderFacts, RequestError> {
        let mut facts = HeaderFacts::default();
        let mut content_length: Option<u64> = None;
        let mut codings = Codings::default();
        let mut hosts = 0;
        for header in headers {
            let name = header.name.as_bytes();
            let value = header.value;
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = parse_content_length(value)?;
                if content_length.is_some_and(|previous| previous != n) {
                    return Err(RequestError::BadContentLength);
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                codings.add(value)?;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in list_elements(value) {
                    facts.connection_close |= token.eq_ignore_ascii_case(b"close");
                    facts.connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case(b"host") {
                hosts += 1;
                if !is_valid_host(value) {
                    return Err(RequestError::BadHost);
                }
            } else if name.eq_ignore_ascii_case(b"expect") && version == Version::Http11 {
                // RFC 9110 §10.1.1: a server ignores 100-continue from an HTTP/1.0 client.
                if !value.eq_ignore_ascii_case(b"100-continue") {
                    return Err(RequestError::ExpectationFailed);
                }
                facts.expect_continue = true;
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

    fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.connection_close,
            Version::Http10 => self.connection_keep_alive && !self.connection_close,
        }
    }
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
    fn add(&mut self, value: &[u8]) -> Result<(), RequestError> {
        self.seen = true;
        for coding in list_elements(value) {
            // Parameters (`;q=…`) are not allowed on chunked and irrelevant to the others.
            let name = coding.split(|&b| b == b';').next().unwrap_or_default();
            let is_chunked = name.eq_ignore_ascii_case(b"chunked") && name.len() == coding.len();
            self.chunked_count += u32::from(is_chunked);
            self.unknown |= !is_chunked;
            self.last_is_chunked = is_chunked;
        }
        Ok(())
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

/// A request as handlers see it: the head and the body, borrowed from the connection's buffer.
#[derive(Debug)]
pub struct Request<'a> {
    /// The parsed head.
    pub head: &'a Head<'a>,
    /// The body: `Content-Length` bytes, or the decoded chunks. Empty when there is none.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.head.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 16 * 1024;

    /// The parts of a head the tests compare: method, path, query, framing, keep-alive.
    type Summary = (Method, String, Option<String>, Framing, bool);

    fn parse(raw: &[u8]) -> Result<Option<Summary>, RequestError> {
        let mut slots = header_slots();
        let head = parse_head(raw, &mut slots, LIMIT)?;
        Ok(head.map(|h| (h.method, h.path.to_owned(), h.query.map(str::to_owned), h.framing, h.keep_alive)))
    }

    fn status(raw: &[u8]) -> u16 {
        match parse(raw) {
            Ok(_) => 200,
            Err(e) => e.status().code(),
        }
    }

    #[test]
    fn parses_a_minimal_get() {
        let got = parse(b"GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().unwrap();
        assert_eq!(got, (Method::Get, "/a/b".into(), Some("x=1".into()), Framing::Empty, true));
    }

    #[test]
    fn partial_heads_wait_for_more() {
        let full = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
        for cut in 0..full.len() {
            assert!(parse(&full[..cut]).unwrap().is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn absolute_and_asterisk_forms() {
        let abs =
            parse(b"GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap().unwrap();
        assert_eq!((abs.1.as_str(), abs.2.as_deref()), ("/x", Some("y")));
        let bare = parse(b"GET HTTP://example.com HTTP/1.1\r\nHost: e\r\n\r\n").unwrap().unwrap();
        assert_eq!(bare.1, "/");
        let star = parse(b"OPTIONS * HTTP/1.1\r\nHost: e\r\n\r\n").unwrap().unwrap();
        assert_eq!(star.1, "*");
        assert_eq!(status(b"GET * HTTP/1.1\r\nHost: e\r\n\r\n"), 400);
        assert_eq!(status(b"GET foo HTTP/1.1\r\nHost: e\r\n\r\n"), 400);
    }

    #[test]
    fn persistence_follows_version_and_connection() {
        let keep = |raw: &[u8]| parse(raw).unwrap().unwrap().4;
        assert!(keep(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert!(!keep(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        assert!(!keep(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n"));
        assert!(!keep(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(keep(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn framing_rules() {
        let framing = |raw: &[u8]| parse(raw).unwrap().unwrap().3;
        assert_eq!(framing(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), Framing::Empty);
        assert_eq!(framing(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n"), Framing::Length(12));
        assert_eq!(
            framing(b"POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\nContent-Length: 5\r\n\r\n"),
            Framing::Length(5)
        );
        assert_eq!(
            framing(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Framing::Chunked
        );
    }

    #[test]
    fn errors_map_to_their_status() {
        let cases: &[(&[u8], u16)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
            (b"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 417),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
        ];
        for (raw, expected) in cases {
            assert_eq!(status(raw), *expected, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn a_bare_lf_ends_no_line_of_the_head_however_it_is_split() {
        let cases: &[&[u8]] = &[
            b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\n",
            b"GET / HTTP/1.1\r\nHost: a\nX: b\n\n",
            b"GET / HTTP/1.1\r\nHost: localhost\r\nDummy: x\nContent-Length: 23\r\n\r\nGET / HTTP/1.1\r\nDummy: GET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ];
        for raw in cases {
            let whole = parse(raw).map(|_| ());
            assert_eq!(whole, Err(BARE_LF), "{:?}", raw.escape_ascii().to_string());
            for end in 0..raw.len() {
                let prefix = parse(&raw[..end]).map(|h| h.is_some());
                assert!(prefix == Ok(false) || prefix == Err(BARE_LF), "prefix {end}");
            }
        }
        // A fault before the bare LF is reported as it would be without it.
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost : a\r\nX: b\n\r\n").map(|_| ()),
            Err(RequestError::Malformed("invalid header name"))
        );
        // Bytes after the head are the body's business, LF or not, whatever the head's answer.
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nHost: a b\r\nContent-Length: 3\r\n\r\na\nb").map(|_| ()),
            Err(RequestError::BadHost)
        );
        let post = parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\na\nb").unwrap().unwrap();
        assert_eq!(post.3, Framing::Length(3));
    }

    #[test]
    fn non_ascii_targets_get_400_however_they_are_split() {
        // Regression from the conn fuzz target: 431 whole, 400 byte by byte.
        let mut raw = b"\r\nPPS ~5t".to_vec();
        raw.extend(std::iter::repeat_n(b'B', 38));
        raw.extend([0xeb, 0x47, 0x42, 0x32, 0xff, 0x24]);
        raw.extend(std::iter::repeat_n(0x90, 14));
        raw.extend(std::iter::repeat_n(0xff, 2000));
        for end in 9..raw.len() {
            let mut slots = header_slots();
            let result = parse_head(&raw[..end], &mut slots, 1024).map(|h| h.is_some());
            let expected =
                if end <= 47 { Ok(false) } else { Err(RequestError::Malformed("invalid request line")) };
            assert_eq!(result, expected, "prefix of {end} bytes");
        }
    }

    #[test]
    fn request_line_length_is_judged_alike_whole_or_partial() {
        // A long method with a short target: the partial head measured the line, the complete
        // head only the target, so trickled bytes got 414 and the same bytes at once did not.
        let raw = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(MAX_REQUEST_LINE));
        assert_eq!(status(raw.as_bytes()), 414);
        assert_eq!(status(&raw.as_bytes()[..MAX_REQUEST_LINE + 5]), 414);
        // Empty lines before the request line do not hide its length.
        let padded = format!("\r\nGET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(status(padded.as_bytes()), 414);
        assert_eq!(status(&padded.as_bytes()[..MAX_REQUEST_LINE + 10]), 414);
    }

    #[test]
    fn size_limits() {
        let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(status(long_line.as_bytes()), 414);
        assert_eq!(status(&long_line.as_bytes()[..MAX_REQUEST_LINE + 10]), 414);
        let big_headers = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "a".repeat(LIMIT));
        assert_eq!(status(big_headers.as_bytes()), 431);
        assert_eq!(status(&big_headers.as_bytes()[..LIMIT + 1]), 431);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(status(format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes()), 431);
    }
}
