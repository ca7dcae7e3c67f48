//! The request-head parser and framing rules on arbitrary bytes: no panic, consistent lengths.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pollserve::http::request::{Framing, Parsed, header_slots, parse_head};

fuzz_target!(|data: &[u8]| {
    let mut slots = header_slots();
    if let Ok(Parsed::Complete(head)) = parse_head(data, &mut slots, 16 * 1024) {
        assert!(head.len <= data.len());
        assert!(head.len <= 16 * 1024);
        assert!(!matches!(head.framing, Framing::Length(0)));
    }
});
