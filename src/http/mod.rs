//! HTTP/1.x as pure functions on byte slices: parsing request heads and framing bodies
//! ([`request`]), decoding chunked bodies ([`chunked`]), mapping errors to status codes
//! ([`error`]), encoding responses ([`response`]) and the cached `Date` value ([`date`]).
//! Nothing in this module does I/O.

pub mod chunked;
pub mod date;
pub mod error;
pub mod request;
pub mod response;
pub mod status;
