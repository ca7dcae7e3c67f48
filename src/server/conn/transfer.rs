//! Moving bytes between the connection's buffers and its stream: reading until `WouldBlock`,
//! making room in the read buffer, and writing queued output.

use super::state::{Event, Gone, State};
use super::{Conn, ConnConfig, MAX_LINGER_BYTES, Stream};
use crate::nonblocking::{interrupted, would_block};

/// How a `fill` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fill {
    /// The socket has nothing more for now.
    Drained,
    /// The read buffer is at its limit; more may be waiting in the socket.
    Full,
    /// The peer closed its write side, or the connection failed.
    Ended,
}

impl<S: Stream> Conn<S> {
    /// Reads until the socket would block, the peer closes, or the buffer is at its limit.
    pub(super) fn fill(&mut self, config: &ConnConfig) -> Fill {
        loop {
            if matches!(self.state, State::Lingering { .. }) {
                // Nothing more will be answered: read only to find the client's FIN.
                self.input.clear();
            }
            if self.input.is_full() && !self.make_room(config) {
                return Fill::Full;
            }
            let spare = self.input.spare();
            let space = spare.len();
            match self.stream.read(spare) {
                Ok(0) => {
                    self.peer_eof = true;
                    return Fill::Ended;
                }
                Ok(n) => {
                    self.input.filled(n);
                    self.deadline.note_moved();
                    if self.trace {
                        self.trace_read(n);
                    }
                    if let State::Lingering { discarded } = &mut self.state {
                        *discarded += n;
                        if *discarded > MAX_LINGER_BYTES {
                            self.transition(Event::Gone(Gone::LingeredTooLong));
                            return Fill::Ended;
                        }
                    }
                    if S::SHORT_READ_DRAINS && n < space && !self.read_closed_hint {
                        return Fill::Drained;
                    }
                }
                Err(e) if would_block(&e) => return Fill::Drained,
                Err(e) if interrupted(&e) => {}
                Err(_) => {
                    self.transition(Event::Gone(Gone::Failed));
                    return Fill::Ended;
                }
            }
        }
    }

    /// Frees space at the end of the read buffer: first by moving unconsumed bytes to the
    /// front, then by dropping a chunked body's decoded framing, then by growing up to what the
    /// current request may need. False when full.
    fn make_room(&mut self, config: &ConnConfig) -> bool {
        if self.input.compact() {
            return true;
        }
        if let State::ReadingBody(pending) = &mut self.state
            && let Some((to, from)) = pending.reclaim()
        {
            self.input.close_gap(to, from);
            return true;
        }
        self.input.grow(self.input_limit(config))
    }

    /// How large the read buffer may grow for what the connection is reading now.
    fn input_limit(&self, config: &ConnConfig) -> usize {
        match &self.state {
            State::ReadingBody(pending) => pending.input_limit(config.max_body),
            _ => config.max_head_bytes,
        }
    }

    /// Whether [`Conn::make_room`] could free space now (the state may have changed since the
    /// buffer filled: a parsed head raises the limit to its body's size).
    pub(super) fn has_room(&self, config: &ConnConfig) -> bool {
        let reclaimable = matches!(&self.state, State::ReadingBody(pending) if pending.is_reclaimable());
        !self.input.is_full()
            || self.input.is_compactable()
            || reclaimable
            || self.input.capacity() < self.input_limit(config)
    }

    /// Writes queued output until done or the socket would block.
    pub(super) fn flush(&mut self) {
        if self.is_closed() {
            return;
        }
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return self.transition(Event::Gone(Gone::Failed)),
                Ok(n) => {
                    self.written += n;
                    self.deadline.note_moved();
                }
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => {}
                Err(_) => return self.transition(Event::Gone(Gone::Failed)),
            }
        }
        self.output.clear();
        self.written = 0;
        if matches!(self.state, State::Closing) {
            match self.stream.shutdown_write() {
                Ok(()) => self.transition(Event::WriteSideShut),
                Err(_) => self.transition(Event::Gone(Gone::Failed)),
            }
        }
    }
}
