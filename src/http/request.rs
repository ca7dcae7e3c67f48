//! Request heads: the request line ([`super::request_line`]), the header block
//! (httparse), the framing facts ([`framing`](super::framing)), and the borrowed [`Request`]
//! view handlers see.
//!
//! Everything here is a pure function of bytes. [`parse_head`] answers [`Parsed::Partial`] (wait
//! for more bytes), a complete [`Head`], or a [`RequestError`] that [`RequestError::status`]
//! maps to its status code. The same bytes give the same answer however they were split on the
//! wire.

use httparse::Header;

use super::error::RequestError;
pub use super::framing::Framing;
use super::framing::HeaderFacts;
use super::request_line::{self, RequestLine};
pub use super::request_line::{BARE_LF, MAX_REQUEST_LINE, Method, Parsed, Version, text};

/// Most header fields one request may carry; one more is answered with 431. Browsers send ~15;
/// nginx and hyper cap around 100. 64 keeps the parser's stack array at 2 KiB.
pub const MAX_HEADERS: usize = 64;

/// Header slots made ready for every parse: enough for curl, wrk and most API clients. A head
/// with more fields (a browser sends ~12) is parsed again into [`MAX_HEADERS`] slots. Slots are
/// written before the parse (httparse takes initialised ones), so fewer cost less: 64 took ~280
/// instructions per request, a tenth of a pipelined request's cost; 8 take ~40.
const FEW_HEADERS: usize = 8;

/// Storage for one parse's header fields, kept on the caller's stack.
pub struct HeaderSlots<'a> {
    few: [Header<'a>; FEW_HEADERS],
    /// Made ready only for a head with more than [`FEW_HEADERS`] fields.
    many: Option<[Header<'a>; MAX_HEADERS]>,
}

/// Fresh header slots for [`parse_head`].
pub fn header_slots<'a>() -> HeaderSlots<'a> {
    HeaderSlots { few: [httparse::EMPTY_HEADER; FEW_HEADERS], many: None }
}

impl<'a> HeaderSlots<'a> {
    /// Slots for `count` fields (at most [`MAX_HEADERS`]).
    fn for_count(&mut self, count: usize) -> &mut [Header<'a>] {
        if count <= FEW_HEADERS {
            return &mut self.few[..count];
        }
        &mut self.many.insert([httparse::EMPTY_HEADER; MAX_HEADERS])[..count.min(MAX_HEADERS)]
    }
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
    /// Target, path and query are visible ASCII, kept as bytes; [`text`] gives the `&str`.
    pub target: &'a [u8],
    /// The path part of the target (`/` for an absolute-form target with no path).
    pub path: &'a [u8],
    /// The raw query after `?`, if any.
    pub query: Option<&'a [u8]>,
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
/// [`Parsed::Partial`]) or more (pipelined requests and bodies after it).
///
/// `max_head_bytes` bounds the head: once `buf` holds that many bytes without a complete head,
/// the answer is 414 (request line) or 431 (header block).
pub fn parse_head<'a>(
    buf: &'a [u8],
    slots: &'a mut HeaderSlots<'a>,
    max_head_bytes: usize,
) -> Result<Parsed<Head<'a>>, RequestError> {
    // Only the first `max_head_bytes` can belong to an acceptable head. Looking further would let
    // the answer depend on how much happened to be buffered: junk past the limit would give 400
    // when it arrived together and 431 when it trickled in (found by the conn fuzz target).
    let buf = &buf[..buf.len().min(max_head_bytes)];
    let line = match request_line::parse(buf)? {
        Parsed::Complete(line) => line,
        Parsed::Partial => return partial(buf, max_head_bytes),
    };
    let (block_len, headers) = match parse_header_block(&buf[line.len..], slots)? {
        Parsed::Complete(block) => block,
        Parsed::Partial => return partial(buf, max_head_bytes),
    };
    let RequestLine { method, method_token, target, query_at, version, len } = line;
    let (path, query) = split_target(method, target, query_at)?;
    let facts = HeaderFacts::collect(headers, version)?;
    Ok(Parsed::Complete(Head {
        method,
        method_token,
        target,
        path,
        query,
        version,
        headers,
        len: len + block_len,
        framing: facts.framing,
        keep_alive: facts.keep_alive(version),
        expect_continue: facts.expect_continue,
    }))
}

/// A partial head is fine until it fills the head limit.
fn partial<T>(buf: &[u8], max_head_bytes: usize) -> Result<Parsed<T>, RequestError> {
    if buf.len() >= max_head_bytes {
        return Err(RequestError::HeadersTooLarge);
    }
    Ok(Parsed::Partial)
}

/// The header fields and the empty line that ends the head, at the start of `block`: their
/// length and the fields. httparse finds the lines; a line it ended at a bare LF is a fault.
fn parse_header_block<'a>(
    block: &'a [u8],
    slots: &'a mut HeaderSlots<'a>,
) -> Result<Parsed<(usize, &'a [Header<'a>])>, RequestError> {
    let parsed = match httparse::parse_headers(block, &mut slots.few) {
        // The field, not a method: `few` is still borrowed for the result's lifetime.
        Err(httparse::Error::TooManyHeaders) => {
            httparse::parse_headers(block, slots.many.insert([httparse::EMPTY_HEADER; MAX_HEADERS]))
        }
        parsed => parsed,
    };
    let crlf_only = match &parsed {
        Ok(httparse::Status::Complete((len, headers))) => lines_end_with_crlf(block, *len, headers),
        _ => !has_bare_lf(block),
    };
    if !crlf_only && let Some(at) = first_bare_lf(block) {
        // Judge only the bytes before it, so a fault earlier in the block is reported exactly
        // as when those bytes came alone; otherwise the bare LF is.
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let before = httparse::parse_headers(&block[..at], &mut slots).err();
        return Err(before.map_or(BARE_LF, header_error));
    }
    match parsed {
        Ok(httparse::Status::Complete(block)) => Ok(Parsed::Complete(block)),
        Ok(httparse::Status::Partial) => Ok(Parsed::Partial),
        Err(error) => Err(header_error(error)),
    }
}

/// Whether every line of a complete header block of `len` bytes ends with CRLF. httparse found
/// the lines, so the two bytes before each field line (the first follows the request line's
/// CRLF) and at the end tell it all: a handful of comparisons, not a pass over every byte.
fn lines_end_with_crlf(block: &[u8], len: usize, headers: &[Header<'_>]) -> bool {
    let offset = |name: &str| name.as_ptr() as usize - block.as_ptr() as usize;
    let crlf_before = |at: usize| at >= 2 && block[at - 2..at] == *b"\r\n";
    headers.iter().all(|header| offset(header.name) == 0 || crlf_before(offset(header.name)))
        && crlf_before(len)
        && (len == 2 || crlf_before(len - 2))
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

/// Where the first LF not preceded by CR lies in the header block at the start of `block` (the
/// request line's CRLF comes just before it). `None` when every line through the empty line
/// that ends the block ends with CRLF; bytes after the block are not looked at.
fn first_bare_lf(block: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for at in memchr::memchr_iter(b'\n', block) {
        if at == 0 || block[at - 1] != b'\r' {
            return Some(at);
        }
        if at - 1 == line_start {
            return None; // the empty line: the block is complete
        }
        line_start = at + 1;
    }
    None
}

/// The answer for a fault httparse found in the header block.
fn header_error(error: httparse::Error) -> RequestError {
    RequestError::Malformed(match error {
        httparse::Error::TooManyHeaders => return RequestError::TooManyHeaders,
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending in the header section",
        _ => "malformed request",
    })
}

/// Splits a request target into path and query, accepting the four forms of RFC 9112 §3.2.
/// `query_at`: where the target's first `?` is, if the caller knows. The origin form (`/path`),
/// nearly every request's, is split inline; the other three out of line.
#[inline]
fn split_target(
    method: Method,
    target: &[u8],
    query_at: Option<usize>,
) -> Result<(&[u8], Option<&[u8]>), RequestError> {
    if !target.starts_with(b"/") {
        return split_other_target(method, target);
    }
    Ok(match query_at.and_then(|at| target.split_at_checked(at)) {
        Some((path, query)) => (path, Some(&query[1..])),
        None => (target, None),
    })
}

/// [`split_target`] for the absolute, asterisk and authority forms.
#[inline(never)]
fn split_other_target(method: Method, target: &[u8]) -> Result<(&[u8], Option<&[u8]>), RequestError> {
    let path_and_query = if let Some(rest) = strip_scheme(target) {
        // absolute-form: skip the authority; the path starts at the first '/' (or is empty).
        let path_start = rest.iter().position(|&b| b == b'/' || b == b'?').unwrap_or(rest.len());
        match &rest[path_start..] {
            b"" => b"/",
            p if p.starts_with(b"?") => return Ok((b"/", Some(&p[1..]))),
            p => p,
        }
    } else if target == b"*" && method == Method::Options {
        return Ok((b"*", None));
    } else if method == Method::Connect {
        return Ok((target, None));
    } else {
        return Err(RequestError::Malformed("invalid request target"));
    };
    Ok(match path_and_query.iter().position(|&b| b == b'?') {
        Some(at) => (&path_and_query[..at], Some(&path_and_query[at + 1..])),
        None => (path_and_query, None),
    })
}

fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    let at = target.windows(3).position(|w| w == b"://")?;
    let (scheme, rest) = target.split_at(at);
    let known = scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https");
    known.then(|| &rest[3..])
}

/// Where a parsed head's parts lie in its buffer: what a connection keeps instead of the
/// borrowed [`Head`] while the body arrives, so the head is parsed once. Offsets count from
/// the head's first byte; the bytes of the head do not move relative to each other.
#[derive(Debug, Clone)]
pub struct HeadIndex {
    method: Method,
    version: Version,
    method_token: Span,
    /// The target; its path and query are split from it again (a pure function).
    target: Span,
    /// Name and value of each field.
    headers: Vec<(Span, Span)>,
    len: usize,
    framing: Framing,
    keep_alive: bool,
    expect_continue: bool,
}

/// A range of a head's bytes, as offsets from its start.
type Span = (usize, usize);

impl HeadIndex {
    /// The positions of `head`'s parts, which was parsed from `buf`.
    pub fn of(head: &Head<'_>, buf: &[u8]) -> HeadIndex {
        let span = |part: &[u8]| {
            let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize).min(buf.len());
            (start, (start + part.len()).min(buf.len()))
        };
        HeadIndex {
            method: head.method,
            version: head.version,
            method_token: span(head.method_token.as_bytes()),
            target: span(head.target),
            headers: head.headers.iter().map(|h| (span(h.name.as_bytes()), span(h.value))).collect(),
            len: head.len,
            framing: head.framing,
            keep_alive: head.keep_alive,
            expect_continue: head.expect_continue,
        }
    }

    /// Length of the head in bytes, through the empty line.
    pub fn head_len(&self) -> usize {
        self.len
    }

    /// The head again, borrowed from `buf`, which starts with the bytes it was parsed from.
    pub fn view<'a>(&self, buf: &'a [u8], slots: &'a mut HeaderSlots<'a>) -> Head<'a> {
        // The spans were cut from `buf` around ASCII tokens: these lookups do not fail.
        let bytes = |(start, end): Span| buf.get(start..end).unwrap_or_default();
        let str_at = |span: Span| text(bytes(span));
        let headers = slots.for_count(self.headers.len());
        for (slot, &(name, value)) in headers.iter_mut().zip(&self.headers) {
            *slot = Header { name: str_at(name), value: bytes(value) };
        }
        let target = bytes(self.target);
        let query_at = target.iter().position(|&b| b == b'?');
        let (path, query) = split_target(self.method, target, query_at).unwrap_or((target, None));
        Head {
            method: self.method,
            // A known method's token is static, not in the buffer.
            method_token: match self.method {
                Method::Other => str_at(self.method_token),
                known => known.as_str(),
            },
            target,
            path,
            query,
            version: self.version,
            headers,
            len: self.len,
            framing: self.framing,
            keep_alive: self.keep_alive,
            expect_continue: self.expect_continue,
        }
    }
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
        let head = parse_head(raw, &mut slots, LIMIT)?.complete();
        Ok(head.map(|h| {
            (h.method, text(h.path).to_owned(), h.query.map(|q| text(q).to_owned()), h.framing, h.keep_alive)
        }))
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
            let result = parse_head(&raw[..end], &mut slots, 1024).map(|h| h.complete().is_some());
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
        // Past the slots made ready first, a head is parsed again with room for all it may hold.
        let enough: String = (1..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(status(format!("GET / HTTP/1.1\r\nHost: a\r\n{enough}\r\n").as_bytes()), 200);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(status(format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes()), 431);
    }
}
