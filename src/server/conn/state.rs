//! Where a connection is in its life: the states, the events that move it, and the one table
//! of transitions (after smoltcp's TCP socket: `match (state, event)`, a rule per arm).

use std::fmt;

use super::deadline::TimerKind;
use crate::app::Exchange;
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::HeadIndex;
use crate::http::response::Persistence;

/// Where a connection is in its life.
#[derive(Debug)]
pub enum State {
    /// Waiting for a request head; the read buffer may hold part of one.
    ReadingHead,
    /// A head is parsed; waiting for the rest of its body. (Boxed, like everything large
    /// here: the state is moved on every transition, so it is kept to three words.)
    ReadingBody(Box<PendingBody>),
    /// Unsent output is over the high-water mark: requests wait in the read buffer until the
    /// client reads.
    BackedUp,
    /// A handler deferred its response; later requests wait in the read buffer, in order.
    Awaiting(Awaiting),
    /// The last response is queued; once it is written the write side shuts down.
    Closing,
    /// Write side shut down; input is discarded until the client closes, so unread request
    /// bytes do not turn our close into a reset that destroys the response in flight.
    Lingering {
        /// Bytes read and thrown away so far (at most [`MAX_LINGER_BYTES`](super::MAX_LINGER_BYTES)).
        discarded: usize,
    },
    /// Finished, and why; the worker drops the connection.
    Closed(Gone),
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::ReadingHead => f.write_str("reading-head"),
            State::ReadingBody(_) => f.write_str("reading-body"),
            State::BackedUp => f.write_str("backed-up"),
            State::Awaiting(_) => f.write_str("awaiting"),
            State::Closing => f.write_str("closing"),
            State::Lingering { .. } => f.write_str("lingering"),
            State::Closed(why) => write!(f, "closed ({why})"),
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// The client closed its side and nothing more was owed to it.
    PeerClosed,
    /// A read or write failed (a reset, a broken pipe), or a write took no bytes.
    Failed,
    /// A deadline passed: idle, write or linger.
    TimedOut(TimerKind),
    /// The client kept sending while we lingered, past the bound.
    LingeredTooLong,
    /// The server is shutting down and the connection had nothing in flight.
    Drained,
}

impl fmt::Display for Gone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gone::PeerClosed => f.write_str("peer closed"),
            Gone::Failed => f.write_str("i/o failed"),
            Gone::TimedOut(kind) => write!(f, "{kind:?} timeout"),
            Gone::LingeredTooLong => f.write_str("client kept sending while lingering"),
            Gone::Drained => f.write_str("server draining"),
        }
    }
}

/// A request whose handler deferred its response.
#[derive(Debug)]
pub struct Awaiting {
    /// What the middleware's `after` half needs when the response comes.
    pub exchange: Box<Exchange>,
    /// Whether the response keeps the connection open, and how it says so.
    pub persistence: Persistence,
    /// A HEAD request: the response goes out without its body.
    pub head_only: bool,
    /// The request's number on its connection: only a completion with this ticket answers it.
    pub ticket: u64,
    /// When the response is due (else 504), if the handler set a limit.
    pub due: Option<std::time::Instant>,
}

/// A request whose head has arrived but whose body has not (yet) completely.
#[derive(Debug, Clone)]
pub struct PendingBody {
    /// Where the head's parts lie in the read buffer, so it is parsed once.
    pub head: HeadIndex,
    /// How to find the body's end.
    pub kind: BodyKind,
    /// `100 Continue` is owed once the connection waits for the body.
    pub continue_owed: bool,
}

/// Room beyond the body limit for chunk-size lines and trailers while a chunked body is in the
/// read buffer (the decoder reclaims framing bytes before the buffer grows).
const CHUNK_FRAMING_SLACK: usize = 32 * 1024;

impl PendingBody {
    /// How large the read buffer may grow while this body arrives (its head is in it too).
    pub fn input_limit(&self, max_body: u64) -> usize {
        let head = self.head.head_len();
        match &self.kind {
            BodyKind::Length(n) => head + n,
            BodyKind::Chunked(_) => {
                head + usize::try_from(max_body).unwrap_or(usize::MAX) + CHUNK_FRAMING_SLACK
            }
        }
    }

    /// Whether decoded chunk framing could be dropped from the buffer.
    pub fn is_reclaimable(&self) -> bool {
        matches!(&self.kind, BodyKind::Chunked(decoder) if decoder.reclaimable())
    }

    /// The decoded chunk framing to drop from the buffer, as offsets into its unconsumed bytes:
    /// `[to, from)`. `None` when there is none.
    pub fn reclaim(&mut self) -> Option<(usize, usize)> {
        let BodyKind::Chunked(decoder) = &mut self.kind else { return None };
        let (from, to) = decoder.reclaim();
        let head = self.head.head_len();
        (from > to).then_some((head + to, head + from))
    }
}

/// How a pending body's end is found.
#[derive(Debug, Clone)]
pub enum BodyKind {
    /// `Content-Length` bytes.
    Length(usize),
    /// Chunks, decoded in place.
    Chunked(ChunkedDecoder),
}

/// What happened, as far as the state machine cares.
#[derive(Debug)]
pub enum Event {
    /// A head arrived whose body is not complete yet.
    HeadNeedsBody(Box<PendingBody>),
    /// A response was queued.
    Responded { keep_alive: bool },
    /// The handler deferred its response.
    Deferred(Awaiting),
    /// A deferred response arrived and was queued.
    Completed { keep_alive: bool },
    /// The request was rejected; its error response is queued.
    Rejected,
    /// Unsent output crossed the high-water mark.
    OutputBackedUp,
    /// Unsent output fell below the low-water mark.
    OutputDrained,
    /// The last response is written and the write side is shut down.
    WriteSideShut,
    /// Nothing more to do, and why.
    Gone(Gone),
}

impl State {
    /// The state after `event`. The only place the state machine's rules are written.
    pub fn next(self, event: Event) -> State {
        match (self, event) {
            // Anything can end: a reset, an I/O error, a timeout, the peer's FIN.
            (_, Event::Gone(why)) => State::Closed(why),
            // A head whose body has not fully arrived waits for it.
            (State::ReadingHead, Event::HeadNeedsBody(body)) => State::ReadingBody(body),
            // A response is queued; a persistent connection reads the next head ...
            (State::ReadingHead | State::ReadingBody(_), Event::Responded { keep_alive: true }) => {
                State::ReadingHead
            }
            // ... and any other has just queued its last response.
            (State::ReadingHead | State::ReadingBody(_), Event::Responded { keep_alive: false }) => {
                State::Closing
            }
            // A handler answers later: wait for it, leaving later requests in the buffer ...
            (State::ReadingHead | State::ReadingBody(_), Event::Deferred(awaiting)) => {
                State::Awaiting(awaiting)
            }
            // ... and carry on once its response is queued.
            (State::Awaiting(_), Event::Completed { keep_alive: true }) => State::ReadingHead,
            (State::Awaiting(_), Event::Completed { keep_alive: false }) => State::Closing,
            // Bad input (or a request timeout): the error response is the last one.
            (State::ReadingHead | State::ReadingBody(_), Event::Rejected) => State::Closing,
            // The client is not reading its responses: stop taking requests until it does.
            (State::ReadingHead, Event::OutputBackedUp) => State::BackedUp,
            (State::BackedUp, Event::OutputDrained) => State::ReadingHead,
            // Everything is sent and FIN is out: wait for the client's FIN.
            (State::Closing, Event::WriteSideShut) => State::Lingering { discarded: 0 },
            // No other event can happen in these states; stay put.
            (state, event) => {
                debug_assert!(false, "unexpected {event:?} in state {state}");
                state
            }
        }
    }

    /// Whether a client's half-close settles this state: everything it sent is answered and
    /// nothing is left to send, or we were only waiting for its FIN. A deferred response is
    /// still owed, even to a client that half-closed.
    pub fn is_settled_by_peer_eof(&self, output_pending: bool) -> bool {
        match self {
            State::Lingering { .. } => true,
            State::ReadingHead | State::ReadingBody(_) => !output_pending,
            State::BackedUp | State::Awaiting(_) | State::Closing | State::Closed(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_alive_response_leaves_reading_head_as_it_is() {
        // `Conn::transition` skips the table for this pair, the event of almost every request:
        // the table must say the same.
        let next = State::ReadingHead.next(Event::Responded { keep_alive: true });
        assert!(matches!(next, State::ReadingHead), "{next}");
    }
}
