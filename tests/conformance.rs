//! A table-driven conformance test built from RFC 9112's grammar: line endings, obs-fold,
//! whitespace around field names, chunk sizes and extensions, trailers, and how
//! Transfer-Encoding and Content-Length combine. Each case is sent on a fresh connection to a real
//! server; it states the statuses expected, in order, and whether the connection then closes.
//! A case that stays open is followed by a probe request whose distinct answer (418) shows that
//! nothing else was hidden in the bytes; one that closes must send nothing more.

mod support;

use support::{Client, TestServer};

/// The connection stays open after the responses.
const OPEN: bool = false;
/// The server closes after the responses: framing can no longer be trusted.
const CLOSE: bool = true;

/// Sent after every case that keeps the connection open; no case produces a 418 itself.
const PROBE: &[u8] = b"GET /status/418 HTTP/1.1\r\nHost: x\r\n\r\n";

/// One case: a name, the bytes sent, the statuses expected in order, whether it closes.
type Case = (&'static str, &'static [u8], &'static [u16], bool);

/// Builds a chunked POST to /echo with `body` as its encoded body, at compile time.
macro_rules! chunked {
    ($body:literal) => {
        concat!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", $body).as_bytes()
    };
}

const LINE_ENDINGS: &[Case] = &[
    ("CRLF everywhere", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &[200], OPEN),
    ("empty CRLF lines before the request line", b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &[200], OPEN),
    ("bare LF before the request line", b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &[400], CLOSE),
    ("request line ended by bare LF", b"GET / HTTP/1.1\nHost: x\r\n\r\n", &[400], CLOSE),
    ("field line ended by bare LF", b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", &[400], CLOSE),
    ("head ended by a bare LF line", b"GET / HTTP/1.1\r\nHost: x\r\n\n", &[400], CLOSE),
    ("head ended by LF LF", b"GET / HTTP/1.1\r\nHost: x\n\n", &[400], CLOSE),
    ("CR alone ending the request line", b"GET / HTTP/1.1\rHost: x\r\n\r\n", &[400], CLOSE),
    ("CR alone inside a field value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", &[400], CLOSE),
    ("CR CR LF after a field", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\r\n\r\n", &[400], CLOSE),
    (
        "bare LF hiding a Content-Length (smuggling)",
        b"GET / HTTP/1.1\r\nHost: localhost\r\nDummy: x\nContent-Length: 23\r\n\r\nGET / HTTP/1.1\r\nDummy: GET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n",
        &[400],
        CLOSE,
    ),
    (
        "bare LF in a pipelined second request",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\nHost: x\r\n\r\n",
        &[200, 400],
        CLOSE,
    ),
    ("bare LF inside a Content-Length body", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na\nb", &[200], OPEN),
];

const OBS_FOLD_AND_WHITESPACE: &[Case] = &[
    ("obs-fold with SP", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", &[400], CLOSE),
    ("obs-fold with HTAB", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", &[400], CLOSE),
    ("first field line starts with whitespace", b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", &[400], CLOSE),
    ("SP between field name and colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", &[400], CLOSE),
    ("HTAB between field name and colon", b"GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", &[400], CLOSE),
    ("empty field name", b"GET / HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n", &[400], CLOSE),
    ("field line without a colon", b"GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", &[400], CLOSE),
    ("non-token byte in a field name", b"GET / HTTP/1.1\r\nHost: x\r\nX[1]: y\r\n\r\n", &[400], CLOSE),
    ("no OWS after the colon", b"GET / HTTP/1.1\r\nHost:x\r\n\r\n", &[200], OPEN),
    (
        "OWS of SP and HTAB around a value",
        b"GET / HTTP/1.1\r\nHost: \t x \t\r\nX:\ty\t\r\n\r\n",
        &[200],
        OPEN,
    ),
    ("empty field value", b"GET / HTTP/1.1\r\nHost: x\r\nX:\r\n\r\n", &[200], OPEN),
    ("NUL in a field value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", &[400], CLOSE),
    ("two spaces after the method", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", &[400], CLOSE),
    ("space after the version", b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", &[400], CLOSE),
    ("HTAB as a request-line separator", b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", &[400], CLOSE),
    ("lower-case version", b"GET / http/1.1\r\nHost: x\r\n\r\n", &[400], CLOSE),
    ("well-formed HTTP/2.0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", &[505], CLOSE),
];

const CHUNK_SIZES: &[Case] = &[
    ("one chunk", chunked!("5\r\nhello\r\n0\r\n\r\n"), &[200], OPEN),
    ("leading zeros and upper-case hex", chunked!("00A\r\n0123456789\r\n000\r\n\r\n"), &[200], OPEN),
    ("0x prefix", chunked!("0x5\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("sign", chunked!("+5\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("whitespace before the size", chunked!(" 5\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("whitespace after the size", chunked!("5 \r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("empty size line", chunked!("\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("size over 64 bits", chunked!("10000000000000000\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("size line ended by bare LF", chunked!("5\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("last-chunk line ended by bare LF", chunked!("5\r\nhello\r\n0\n\r\n"), &[400], CLOSE),
    ("data followed by bare LF", chunked!("5\r\nhello\n0\r\n\r\n"), &[400], CLOSE),
    ("data longer than its size", chunked!("3\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("a body over the limit", chunked!("100001\r\n"), &[413], CLOSE),
];

const CHUNK_EXTENSIONS: &[Case] = &[
    ("name only", chunked!("5;a\r\nhello\r\n0\r\n\r\n"), &[200], OPEN),
    ("name and token value", chunked!("5;a=b\r\nhello\r\n0;c=d\r\n\r\n"), &[200], OPEN),
    ("BWS around ; and =", chunked!("5 ;\ta = b ; c\r\nhello\r\n0\r\n\r\n"), &[200], OPEN),
    ("quoted-string with a quoted-pair", chunked!("5;a=\"x; \\\"y\"\r\nhello\r\n0\r\n\r\n"), &[200], OPEN),
    ("empty quoted-string", chunked!("5;a=\"\"\r\nhello\r\n0\r\n\r\n"), &[200], OPEN),
    ("; with no name", chunked!("2;\r\nhi\r\n0\r\n\r\n"), &[400], CLOSE),
    ("= with no name", chunked!("2;=b\r\nhi\r\n0\r\n\r\n"), &[400], CLOSE),
    ("= with no value", chunked!("2;a=\r\nhi\r\n0\r\n\r\n"), &[400], CLOSE),
    ("quote never closed", chunked!("5;a=\"abc\";b=\"def; ghi\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("text after a closing quote", chunked!("5;a=\"abc\"d\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("space inside a token value", chunked!("5;a=b c\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("whitespace before the line end", chunked!("5;a \r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("non-token byte in a name", chunked!("5;a@b\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("NUL in an extension", chunked!("5;a\0\r\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
    ("extension ended by bare LF", chunked!("5;a=b\nhello\r\n0\r\n\r\n"), &[400], CLOSE),
];

const TRAILERS: &[Case] = &[
    ("trailer fields", chunked!("5\r\nhello\r\n0\r\nX: y\r\nZ:\r\n\r\n"), &[200], OPEN),
    ("trailer line ended by bare LF", chunked!("5\r\nhello\r\n0\r\nX: y\n\r\n"), &[400], CLOSE),
    ("trailer section ended by bare LF", chunked!("5\r\nhello\r\n0\r\nX: y\r\n\n"), &[400], CLOSE),
    ("obs-fold in trailers", chunked!("5\r\nhello\r\n0\r\nX: y\r\n z\r\n\r\n"), &[400], CLOSE),
    ("SP before a trailer's colon", chunked!("5\r\nhello\r\n0\r\nX : y\r\n\r\n"), &[400], CLOSE),
    ("trailer line without a colon", chunked!("5\r\nhello\r\n0\r\nXy\r\n\r\n"), &[400], CLOSE),
    ("control byte in a trailer value", chunked!("5\r\nhello\r\n0\r\nX: \x01\r\n\r\n"), &[400], CLOSE),
];

const FRAMING: &[Case] = &[
    ("Content-Length", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", &[200], OPEN),
    ("Content-Length twice, equal", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", &[200], OPEN),
    ("Content-Length twice, different", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", &[400], CLOSE),
    ("Content-Length as a list", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", &[400], CLOSE),
    ("Content-Length with a sign", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", &[400], CLOSE),
    ("Transfer-Encoding and Content-Length", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &[400], CLOSE),
    ("Content-Length after Transfer-Encoding", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", &[400], CLOSE),
    ("chunked in any case, with OWS", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n0\r\n\r\n", &[200], OPEN),
    ("chunked not the final coding", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", &[400], CLOSE),
    ("chunked twice in one field", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", &[400], CLOSE),
    ("chunked twice across fields", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &[400], CLOSE),
    ("gzip then chunked", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", &[501], CLOSE),
    ("gzip and chunked across fields", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &[501], CLOSE),
    ("identity alone", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", &[501], CLOSE),
    ("empty Transfer-Encoding", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n", &[400], CLOSE),
    ("chunked on HTTP/1.0", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &[400], CLOSE),
    (
        "pipelined after a chunked body",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[200, 200],
        OPEN,
    ),
];

/// Sends one case on a fresh connection and checks what comes back.
fn check(server: &TestServer, (name, raw, statuses, closes): &Case) -> Result<(), String> {
    let mut client: Client = server.connect();
    client.send(raw);
    for expected in *statuses {
        let response = client.read_response();
        if response.status != *expected {
            return Err(format!("{name}: expected {expected}, got {}: {}", response.status, response.text()));
        }
    }
    if *closes {
        if !client.is_closed_by_server() {
            return Err(format!("{name}: connection left open"));
        }
    } else {
        let probe = client.request(PROBE);
        if probe.status != 418 {
            return Err(format!("{name}: the probe got {} (an extra response?)", probe.status));
        }
    }
    Ok(())
}

#[test]
fn requests_are_judged_by_rfc_9112s_grammar() {
    let server = TestServer::start(&["--threads", "1", "--db", "off"]);
    let tables = [LINE_ENDINGS, OBS_FOLD_AND_WHITESPACE, CHUNK_SIZES, CHUNK_EXTENSIONS, TRAILERS, FRAMING];
    let failures: Vec<String> =
        tables.iter().flat_map(|table| table.iter()).filter_map(|case| check(&server, case).err()).collect();
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}
