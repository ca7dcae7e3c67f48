//! A connection's read buffer: received bytes, a cursor to the first unconsumed one, and the
//! rules for making room (after ripgrep's `line_buffer.rs`).

use super::super::buffers::BufferPool;

/// Initial size of a connection's read buffer: room for a browser's request head, or for ~40
/// pipelined `wrk` requests. It grows (up to the head and body limits) only when one request
/// needs more.
pub const INITIAL_READ_BUFFER: usize = 4 * 1024;

/// Received bytes not yet consumed by a request, in a buffer that is reused across requests.
///
/// `bytes[start..end]` is the unconsumed window; `bytes[end..]` is free space to read into.
#[derive(Debug, Default)]
pub struct ReadBuf {
    /// The storage. Always fully initialised, so its length is the buffer's capacity. Empty
    /// (unallocated) while the connection is idle: it is lent by the worker's [`BufferPool`]
    /// for each wakeup that has bytes to handle.
    bytes: Vec<u8>,
    /// Start of the unconsumed bytes. Invariant: `start <= end`; both are 0 when nothing is
    /// buffered, so the next read starts at the front.
    start: usize,
    /// End of the received bytes. Invariant: `end <= bytes.len()`.
    end: usize,
}

impl ReadBuf {
    /// The received bytes not yet consumed.
    pub fn unconsumed(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// The same, writable: a chunked body is decoded in place.
    pub fn unconsumed_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.end]
    }

    /// Whether every received byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The first `n` unconsumed bytes belong to a request that was answered.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.clear();
        }
    }

    /// Forgets every buffered byte (a lingering connection only looks for the client's FIN).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// The free space after the received bytes, to read into. Empty when full.
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.bytes[self.end..]
    }

    /// `n` bytes were read into [`ReadBuf::spare`].
    pub fn filled(&mut self, n: usize) {
        debug_assert!(n <= self.bytes.len() - self.end);
        self.end = (self.end + n).min(self.bytes.len());
    }

    /// Whether there is no free space after the received bytes.
    pub fn is_full(&self) -> bool {
        self.end == self.bytes.len()
    }

    /// Whether [`ReadBuf::compact`] would free space.
    pub fn is_compactable(&self) -> bool {
        self.start > 0
    }

    /// Moves the unconsumed bytes to the front. True when that freed space.
    pub fn compact(&mut self) -> bool {
        if self.start == 0 {
            return false;
        }
        self.bytes.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        true
    }

    /// Removes the unconsumed bytes `[to, from)` (offsets into [`ReadBuf::unconsumed`]), moving
    /// the bytes after them down: a chunked decoder's framing, once decoded past.
    pub fn close_gap(&mut self, to: usize, from: usize) {
        debug_assert!(to <= from && self.start + from <= self.end);
        self.bytes.copy_within(self.start + from..self.end, self.start + to);
        self.end -= from - to;
    }

    /// Doubles the buffer (at least to [`INITIAL_READ_BUFFER`]), up to `limit` bytes. False
    /// when it is that large already.
    pub fn grow(&mut self, limit: usize) -> bool {
        if self.bytes.len() >= limit {
            return false;
        }
        let grown = (self.bytes.len() * 2).clamp(INITIAL_READ_BUFFER, limit);
        self.bytes.resize(grown, 0);
        true
    }

    /// The buffer's size: what it holds, consumed or not, plus its free space.
    pub fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Takes storage from the pool for this wakeup, unless it still holds its own.
    pub fn borrow_from(&mut self, pool: &mut BufferPool) {
        if self.bytes.is_empty() {
            self.bytes = pool.take_input();
        }
    }

    /// Gives the storage back to the pool once nothing in it is needed.
    pub fn return_to(&mut self, pool: &mut BufferPool) {
        if self.is_empty() {
            self.clear();
            pool.put_input(std::mem::take(&mut self.bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer_with(bytes: &[u8]) -> ReadBuf {
        let mut buf = ReadBuf::default();
        buf.grow(INITIAL_READ_BUFFER);
        buf.spare()[..bytes.len()].copy_from_slice(bytes);
        buf.filled(bytes.len());
        buf
    }

    #[test]
    fn consuming_everything_rewinds_to_the_front() {
        let mut buf = buffer_with(b"abcdef");
        buf.consume(2);
        assert_eq!(buf.unconsumed(), b"cdef");
        assert!(buf.is_compactable());
        buf.consume(4);
        assert!(buf.is_empty() && !buf.is_compactable());
        assert_eq!(buf.spare().len(), INITIAL_READ_BUFFER);
    }

    #[test]
    fn compaction_and_gaps_keep_the_unconsumed_bytes_in_order() {
        let mut buf = buffer_with(b"xxabcdef");
        buf.consume(2);
        assert!(buf.compact());
        assert!(!buf.compact());
        assert_eq!(buf.unconsumed(), b"abcdef");
        buf.close_gap(1, 3);
        assert_eq!(buf.unconsumed(), b"adef");
    }

    #[test]
    fn growth_doubles_up_to_the_limit() {
        let mut buf = ReadBuf::default();
        assert!(buf.grow(10_000));
        assert_eq!(buf.capacity(), INITIAL_READ_BUFFER);
        assert!(buf.grow(10_000));
        assert_eq!(buf.capacity(), 2 * INITIAL_READ_BUFFER);
        assert!(buf.grow(10_000));
        assert_eq!(buf.capacity(), 10_000);
        assert!(!buf.grow(10_000));
    }
}
