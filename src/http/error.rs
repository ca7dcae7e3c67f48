//! Everything a client can get wrong, and the one function that maps it to a status code.

use super::chunked::ChunkError;
use super::status::StatusCode;

/// Why a request could not be accepted. After any of these the connection's framing can no
/// longer be trusted (or the client has overstayed), so the server answers and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// The request line or a header field is not valid HTTP/1.1 syntax.
    Malformed(&'static str),
    /// A well-formed version other than HTTP/1.0 or HTTP/1.1.
    UnsupportedVersion,
    /// The request line exceeds [`MAX_REQUEST_LINE`](super::request::MAX_REQUEST_LINE).
    UriTooLong,
    /// The head exceeds the configured maximum size.
    HeadersTooLarge,
    /// More header fields than [`MAX_HEADERS`](super::request::MAX_HEADERS).
    TooManyHeaders,
    /// Content-Length is not `1*DIGIT`, overflows, or disagrees with another Content-Length.
    BadContentLength,
    /// Both Transfer-Encoding and Content-Length: the classic request-smuggling setup.
    ConflictingFraming,
    /// Transfer-Encoding without chunked last, chunked twice, or on an HTTP/1.0 request.
    BadTransferEncoding,
    /// A transfer coding pollserve does not implement (gzip, compress, deflate …).
    UnsupportedTransferCoding,
    /// Host missing (HTTP/1.1), repeated, or not a valid host.
    BadHost,
    /// An `Expect` other than `100-continue`.
    ExpectationFailed,
    /// The declared or decoded body exceeds the configured maximum.
    BodyTooLarge,
    /// The chunked body framing is broken.
    BadChunk(ChunkError),
    /// The head (or body) did not arrive within its timeout.
    Timeout,
}

impl RequestError {
    /// The status code this error is answered with. The single place that decides it.
    pub fn status(self) -> StatusCode {
        match self {
            RequestError::Malformed(_)
            | RequestError::BadContentLength
            | RequestError::ConflictingFraming
            | RequestError::BadTransferEncoding
            | RequestError::BadHost => StatusCode::BAD_REQUEST,
            RequestError::BadChunk(ChunkError::TooLarge) | RequestError::BodyTooLarge => {
                StatusCode::CONTENT_TOO_LARGE
            }
            RequestError::BadChunk(_) => StatusCode::BAD_REQUEST,
            RequestError::UnsupportedVersion => StatusCode::VERSION_NOT_SUPPORTED,
            RequestError::UriTooLong => StatusCode::URI_TOO_LONG,
            RequestError::HeadersTooLarge | RequestError::TooManyHeaders => {
                StatusCode::HEADER_FIELDS_TOO_LARGE
            }
            RequestError::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            RequestError::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            RequestError::Timeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// A short message for the JSON error body.
    pub fn message(self) -> &'static str {
        match self {
            RequestError::Malformed(message) => message,
            RequestError::UnsupportedVersion => "HTTP version not supported (use 1.0 or 1.1)",
            RequestError::UriTooLong => "request line too long",
            RequestError::HeadersTooLarge => "request header block too large",
            RequestError::TooManyHeaders => "too many header fields",
            RequestError::BadContentLength => "invalid Content-Length",
            RequestError::ConflictingFraming => "both Transfer-Encoding and Content-Length",
            RequestError::BadTransferEncoding => "invalid Transfer-Encoding",
            RequestError::UnsupportedTransferCoding => "unsupported transfer coding",
            RequestError::BadHost => "missing, repeated or invalid Host",
            RequestError::ExpectationFailed => "only Expect: 100-continue is supported",
            RequestError::BodyTooLarge => "request body too large",
            RequestError::BadChunk(e) => e.message(),
            RequestError::Timeout => "request not received in time",
        }
    }
}
