//! The chunked decoder on arbitrary bytes, delivered in two pieces: no panic, the same result as
//! one piece, and a decoded body never longer than the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pollserve::http::chunked::{ChunkedDecoder, Progress};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, encoded)) = data.split_first() else { return };
    let mut whole = encoded.to_vec();
    let expected = ChunkedDecoder::new(1 << 16).decode(&mut whole);

    let cut = usize::from(cut) % (encoded.len() + 1);
    let mut decoder = ChunkedDecoder::new(1 << 16);
    let mut buf = encoded[..cut].to_vec();
    let first = decoder.decode(&mut buf);
    let got = match first {
        Ok(Progress::NeedMore) => {
            buf.extend_from_slice(&encoded[cut..]);
            decoder.decode(&mut buf)
        }
        other => other,
    };
    assert_eq!(got, expected);
    if let Ok(Progress::Done { consumed, body_len }) = got {
        assert!(body_len <= consumed && consumed <= encoded.len());
        assert_eq!(&buf[..body_len], &whole[..body_len]);
    }
});
