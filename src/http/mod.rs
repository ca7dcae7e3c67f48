//! HTTP/1.x as pure functions on byte slices: parsing request lines ([`request_line`]) and
//! heads ([`request`]), the framing rules ([`framing`]), decoding chunked bodies ([`chunked`]), mapping errors to status codes
//! ([`error`]), encoding responses ([`response`]) and the cached `Date` value ([`date`]).
//! Nothing in this module does I/O.

pub mod chunked;
pub mod date;
pub mod error;
pub mod framing;
pub mod request;
pub mod request_line;
pub mod response;
pub mod status;
