//! Property tests of the connection state machine, driven in memory (no sockets):
//! - any split of a valid pipelined byte stream, down to single bytes, gives exactly the same
//!   response bytes as delivering it whole;
//! - no input, however split, makes the connection answer more requests than it was sent, and
//!   nothing panics.

use proptest::prelude::*;

use pollserve::server::conn::ConnConfig;
use pollserve::server::memory::Driver;
use pollserve::site;

/// Requests a well-behaved client may pipeline, with every framing pollserve supports.
const REQUESTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /json HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
    b"HEAD /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /missing?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"DELETE /json HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"\r\nGET http://a/plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
];

/// Feeds `chunks` one wakeup each and returns everything written, with `100 Continue` interim
/// responses removed (whether one is needed depends on whether the body came with the head).
fn run(chunks: &[Vec<u8>]) -> Vec<u8> {
    run_with(chunks, ConnConfig::default())
}

fn run_with(chunks: &[Vec<u8>], config: ConnConfig) -> Vec<u8> {
    let app = site::endpoints();
    let mut driver = Driver::new(&app, config);
    let mut conn = driver.connect();
    for chunk in chunks {
        driver.feed(&mut conn, chunk);
    }
    strip_continue(&conn.stream_mut().written)
}

fn strip_continue(bytes: &[u8]) -> Vec<u8> {
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.starts_with(CONTINUE) {
            rest = &rest[CONTINUE.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// Cuts `bytes` at the given (sorted, deduplicated) offsets.
fn split_at(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        let cut = cut % (bytes.len() + 1);
        if cut > start {
            chunks.push(bytes[start..cut].to_vec());
            start = cut;
        }
    }
    chunks.push(bytes[start..].to_vec());
    chunks
}

/// Status lines (`HTTP/1.1 ddd `) in the output: a body mentioning "HTTP/1.1" does not count.
fn count_responses(output: &[u8]) -> usize {
    output
        .windows(13)
        .filter(|w| w.starts_with(b"HTTP/1.1 ") && w[9..12].iter().all(u8::is_ascii_digit) && w[12] == b' ')
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_split_of_valid_pipelined_requests_gives_the_same_responses(
        picks in prop::collection::vec(0..REQUESTS.len(), 1..24),
        mut cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let stream: Vec<u8> = picks.iter().flat_map(|&i| REQUESTS[i]).copied().collect();
        let whole = run(std::slice::from_ref(&stream));
        prop_assert_eq!(count_responses(&whole), picks.len());
        cuts.sort_unstable_by_key(|c| c % (stream.len() + 1));
        let pieces = run(&split_at(&stream, &cuts));
        prop_assert_eq!(&pieces, &whole);
    }

    #[test]
    fn arbitrary_bytes_never_yield_more_responses_than_requests(
        junk in prop::collection::vec(any::<u8>(), 0..600),
        mut cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut input = REQUESTS[0].to_vec();
        input.extend_from_slice(&junk);
        cuts.sort_unstable_by_key(|c| c % (input.len() + 1));
        let whole = run(std::slice::from_ref(&input));
        let pieces = run(&split_at(&input, &cuts));
        prop_assert_eq!(&pieces, &whole);
        // Every request needs its own empty line; at most one more response (an error) follows.
        let heads = input.windows(2).filter(|w| *w == b"\n\n" || *w == b"\r\n").count();
        prop_assert!(count_responses(&whole) <= heads + 1);
    }

    #[test]
    fn byte_by_byte_delivery_equals_whole_delivery(
        picks in prop::collection::vec(0..REQUESTS.len(), 1..8),
    ) {
        let stream: Vec<u8> = picks.iter().flat_map(|&i| REQUESTS[i]).copied().collect();
        let bytes: Vec<Vec<u8>> = stream.iter().map(|&b| vec![b]).collect();
        prop_assert_eq!(run(&bytes), run(&[stream]));
    }
}

/// Inputs the fuzzers found, replayed the way the `conn` fuzz target runs them: the first byte
/// picks the piece size, and pieces must give the same output as the whole.
#[test]
fn fuzzer_findings_stay_fixed() {
    const FINDINGS: &[(&str, &[u8])] = &[
        ("conn-non-ascii-target", include_bytes!("regressions/conn-non-ascii-target.bin")),
        ("conn-version-then-non-ascii", include_bytes!("regressions/conn-version-then-non-ascii.bin")),
        ("conn-junk-past-head-limit", include_bytes!("regressions/conn-junk-past-head-limit.bin")),
        (
            "conn-non-ascii-then-bad-line-end",
            include_bytes!("regressions/conn-non-ascii-then-bad-line-end.bin"),
        ),
    ];
    for (name, data) in FINDINGS {
        let (&size, input) = data.split_first().unwrap();
        let size = usize::from(size % 16) + 1;
        let pieces: Vec<Vec<u8>> = input.chunks(size).map(<[u8]>::to_vec).collect();
        // The fuzz target's limits.
        let config = || ConnConfig { max_head_bytes: 1024, max_body: 4096, ..ConnConfig::default() };
        assert_eq!(run_with(&pieces, config()), run_with(&[input.to_vec()], config()), "{name}");
    }
}
