//! What `--trace` prints of a connection's bytes: each read and each response's head, with
//! credentials masked (`server::redact`).

use super::{Conn, Stream};
use crate::server::redact;

impl<S: Stream> Conn<S> {
    /// Traces the `n` bytes just read, credentials masked. The whole unconsumed window is masked
    /// (masking keeps lengths), so a header whose name came in an earlier read is still masked.
    pub(super) fn trace_read(&self, n: usize) {
        let mut window = self.input.unconsumed().to_vec();
        redact::mask(&mut window);
        let read = &window[window.len().saturating_sub(n)..];
        log::trace!("conn#{} read {n} bytes: {}", self.identity.id, read.escape_ascii());
    }

    /// Traces the head of the response written at `output[start..]`, when tracing.
    pub(super) fn trace_response(&self, start: usize) {
        if self.trace {
            trace_head(self.identity.id, &self.output[start..]);
        }
    }
}

/// Traces the head of a response that starts at the front of `bytes`.
pub(super) fn trace_head(id: u64, bytes: &[u8]) {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").map_or(bytes.len(), |i| i + 4);
    let mut head = bytes[..end].to_vec();
    redact::mask(&mut head);
    log::trace!("conn#{id} response head: {}", head.escape_ascii());
}
