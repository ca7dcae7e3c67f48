//! Requests out of the read buffer and responses into the output: every complete head is
//! parsed once, its body waited for when it is not all here, and the request handed to the app.

use super::state::{Awaiting, BodyKind, Event, PendingBody, State};
use super::trace::trace_head;
use super::{Conn, Ctx, Identity, OUTPUT_HIGH_WATER, Stream};
use std::time::Duration;

use crate::app::defer::ReturnAddress;
use crate::app::{Exchange, HandleEnv, HttpError, Outcome, Response};
use crate::http::chunked::{ChunkedDecoder, Progress};
use crate::http::error::RequestError;
use crate::http::request::{self, Framing, Head, HeadIndex, Method, Parsed, Request, Version};
use crate::http::response::{self, Persistence};

impl<S: Stream> Conn<S> {
    /// Answers every complete request in the read buffer, in order.
    pub(super) fn process(&mut self, ctx: &mut Ctx<'_>) {
        loop {
            let answered = match self.state {
                State::ReadingHead if self.pending_output() >= OUTPUT_HIGH_WATER => {
                    self.transition(Event::OutputBackedUp);
                    false
                }
                State::ReadingHead if !self.input.is_empty() => self.read_head(ctx),
                State::ReadingBody(_) => self.read_body(ctx),
                _ => false,
            };
            if !answered {
                break;
            }
            self.deadline.note_served();
        }
    }

    /// Parses the head at the front of the buffer and, when its body is already here, answers
    /// it. True when the request was answered (or rejected).
    fn read_head(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let mut slots = request::header_slots();
        let buf = self.input.unconsumed();
        // Borrowed where it was parsed: moving the head out would copy its ~150 bytes.
        let parsed = request::parse_head(buf, &mut slots, ctx.config.max_head_bytes);
        let head = match &parsed {
            Ok(Parsed::Complete(head)) => head,
            Ok(Parsed::Partial) => return false,
            Err(error) => {
                self.reject(*error, ctx);
                return true;
            }
        };
        let kind = match head.framing {
            Framing::Empty => BodyKind::Length(0),
            Framing::Length(n) if n > ctx.config.max_body => {
                self.reject(RequestError::BodyTooLarge, ctx);
                return true;
            }
            Framing::Length(n) => BodyKind::Length(usize::try_from(n).unwrap_or(usize::MAX)),
            Framing::Chunked => BodyKind::Chunked(ChunkedDecoder::new(ctx.config.max_body)),
        };
        if let BodyKind::Length(body_len) = kind {
            let total = head.len + body_len;
            if total <= buf.len() {
                self.tickets += 1;
                let sender = (&self.identity, self.tickets);
                let event = respond(head, &buf[head.len..total], &mut self.output, sender, self.trace, ctx);
                self.input.consume(total);
                self.transition(event);
                return true;
            }
        }
        let pending = Box::new(PendingBody {
            head: HeadIndex::of(head, buf),
            kind,
            continue_owed: head.expect_continue,
        });
        self.transition(Event::HeadNeedsBody(pending));
        self.read_body(ctx)
    }

    /// Advances the pending body; when complete, answers the request. True when answered.
    fn read_body(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let State::ReadingBody(pending) = &mut self.state else {
            return false;
        };
        let head_len = pending.head.head_len();
        let received = &mut self.input.unconsumed_mut()[head_len..];
        let complete = match &mut pending.kind {
            BodyKind::Length(n) => (received.len() >= *n).then_some((*n, *n)),
            BodyKind::Chunked(decoder) => match decoder.decode(received) {
                Ok(Progress::Done { consumed, body_len }) => Some((body_len, consumed)),
                Ok(Progress::NeedMore) => None,
                Err(error) => {
                    self.reject(RequestError::BadChunk(error), ctx);
                    return true;
                }
            },
        };
        let Some((body_len, consumed)) = complete else {
            if std::mem::take(&mut pending.continue_owed) {
                self.output.extend_from_slice(response::CONTINUE);
            }
            return false;
        };
        // The body is decoded in place behind the head, whose bytes did not move: borrow the
        // head again from its positions.
        let mut slots = request::header_slots();
        let buf = self.input.unconsumed();
        let head = pending.head.view(buf, &mut slots);
        let body = &buf[head_len..head_len + body_len];
        self.tickets += 1;
        let event = respond(&head, body, &mut self.output, (&self.identity, self.tickets), self.trace, ctx);
        self.input.consume(head_len + consumed);
        self.transition(event);
        true
    }

    /// Queues the error response for a bad request; it is the connection's last. The app
    /// stamps it (request id) and logs it like any response.
    pub(super) fn reject(&mut self, error: RequestError, ctx: &Ctx<'_>) {
        let error = HttpError::new(error.status(), error.message());
        let start = self.output.len();
        ctx.app.reject(error, ctx.now, |response, exchange| {
            ctx.counters.record(ctx.metrics.rejected_route(), response.status.code(), Duration::ZERO);
            let id = exchange.request_id.as_ref();
            response.write_to(&mut self.output, ctx.date, Persistence::Close, false, id);
        });
        self.trace_response(start);
        self.transition(Event::Rejected);
    }
}

/// Hands one complete request to the app and queues its response; returns the event for the
/// state machine (answered, or deferred).
fn respond(
    head: &Head<'_>,
    body: &[u8],
    output: &mut Vec<u8>,
    (identity, ticket): (&Identity, u64),
    trace: bool,
    ctx: &mut Ctx<'_>,
) -> Event {
    let keep_alive = head.keep_alive && !ctx.draining;
    let persistence = match (keep_alive, head.version) {
        (false, _) => Persistence::Close,
        (true, Version::Http10) => Persistence::KeepAliveHttp10,
        (true, Version::Http11) => Persistence::KeepAlive,
    };
    let head_only = head.method == Method::Head;
    let request = Request { head, body };
    let env = HandleEnv {
        now: ctx.now,
        metrics: Some(ctx.metrics),
        peer: identity.peer,
        defer: ctx.defer.map(|target| ReturnAddress {
            target,
            conn_key: identity.key,
            conn_id: identity.id,
            ticket,
        }),
    };
    let (date, counters) = (ctx.date, ctx.counters);
    let send = |response: &Response, exchange: &Exchange| {
        let start = output.len();
        response.write_to(output, date, persistence, head_only, exchange.request_id.as_ref());
        if trace {
            trace_head(identity.id, &output[start..]);
        }
        // Answered in the wakeup that read it: on the loop's clock no time passed.
        counters.record(exchange.route, response.status.code(), Duration::ZERO);
    };
    match ctx.app.handle(&request, &env, send) {
        Outcome::Responded => Event::Responded { keep_alive },
        Outcome::Deferred(exchange) => {
            let due = exchange.due_within.map(|limit| ctx.now + limit);
            Event::Deferred(Awaiting { exchange, persistence, head_only, ticket, due })
        }
    }
}
