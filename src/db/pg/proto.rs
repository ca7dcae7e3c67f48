//! One PostgreSQL connection's protocol, without I/O: bytes from the server go in
//! ([`Session::receive`]), bytes for the server come out ([`Session::output`]), and finished
//! queries come out as [`Outcome`]s. The caller owns the socket; tests and the fuzz target feed
//! bytes from memory.
//!
//! A session authenticates (cleartext, MD5 or SCRAM-SHA-256, via `postgres-protocol`), prepares
//! its statements once, and then pipelines: queries are sent in batches, each batch ended by
//! one `Sync`, and many batches may be in flight. Replies arrive in order, so the query a
//! message answers is always the first unfinished one. A batch is one implicit transaction:
//! its writes commit at its `Sync`, which the server confirms with `ReadyForQuery`, and only
//! then are its queries' results handed out. If a query fails, the server skips the rest of
//! the batch and rolls the batch back: the failed query gets its error, every other query of
//! the batch comes back as [`Outcome::Retry`] to be sent again, and the connection carries on.

mod errors;
mod handshake;

use std::collections::VecDeque;
use std::fmt;

use bytes::{Bytes, BytesMut};
use postgres_protocol::message::backend::{DataRowBody, Message};
use postgres_protocol::message::frontend;
use postgres_types::{ToSql, Type};

use super::sql::Statement;

use errors::protocol;
pub use errors::{Fatal, ServerError};
use handshake::Auth;

/// Who to log in as.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The role.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The database.
    pub database: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Login {{ user: {:?}, database: {:?}, password: *** }}", self.user, self.database)
    }
}

/// The longest message taken from the server. This client's statements return rows of a few
/// kilobytes (an item's body is at most 10,000 characters); PostgreSQL itself allows 1 GiB.
/// The bound matters because `Message::parse` reserves room for the length a header claims
/// before any of it has arrived: a 4 GiB claim was a 4 GiB allocation (a fuzz finding).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Refuses a message, as soon as its header is in `input`, that claims more than
/// [`MAX_MESSAGE`] bytes.
fn check_length(input: &[u8]) -> Result<(), Fatal> {
    let Some(Ok(len)) = input.get(1..5).map(<[u8; 4]>::try_from) else {
        return Ok(()); // the header is not all here yet
    };
    let len = u32::from_be_bytes(len);
    if usize::try_from(len).is_ok_and(|len| len <= MAX_MESSAGE) {
        return Ok(());
    }
    Err(protocol(format_args!("sent a message of {len} bytes, more than the {MAX_MESSAGE} taken")))
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The startup message is sent; the server is checking who we are.
    Authenticating,
    /// Authenticated; the server is starting the session (until its first `ReadyForQuery`).
    Starting,
    /// The statements are being prepared (until the next `ReadyForQuery`).
    Preparing,
    /// Queries can be sent (and may be in flight).
    Ready,
}

/// A query to send: an encoded `Bind` and `Execute` of a prepared statement, or a simple query
/// (several statements as text, for migrations).
#[derive(Debug, Clone)]
pub struct Query {
    bytes: Bytes,
    simple: bool,
}

impl Query {
    /// Executes prepared statement `statement` with `params` (converted by `postgres-types` to
    /// the statement's parameter types, in binary); results come back in binary.
    pub fn prepared(statement: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<Query, String> {
        let mut buf = BytesMut::with_capacity(128);
        let typed =
            params.iter().zip(statement.params.iter().map(|oid| Type::from_oid(*oid).unwrap_or(Type::TEXT)));
        frontend::bind(
            "",
            statement.name,
            Some(1),
            typed,
            |(param, ty), buf| match param.to_sql_checked(&ty, buf)? {
                postgres_types::IsNull::Yes => Ok(postgres_protocol::IsNull::Yes),
                postgres_types::IsNull::No => Ok(postgres_protocol::IsNull::No),
            },
            Some(1),
            &mut buf,
        )
        .map_err(|e| match e {
            frontend::BindError::Conversion(e) => format!("{}: {e}", statement.name),
            frontend::BindError::Serialization(e) => format!("{}: {e}", statement.name),
        })?;
        frontend::execute("", 0, &mut buf).map_err(|e| e.to_string())?;
        Ok(Query { bytes: buf.freeze(), simple: false })
    }

    /// A simple query: `sql` may hold several statements; results come back as text.
    pub fn simple(sql: &str) -> Query {
        let mut buf = BytesMut::new();
        let _ = frontend::query(sql, &mut buf);
        Query { bytes: buf.freeze(), simple: true }
    }
}

/// What became of a query (with the caller's tag `T`).
#[derive(Debug)]
pub enum Outcome<T> {
    /// It ran and its batch committed: its rows (`DataRow` bodies, in order).
    Rows(T, Vec<DataRowBody>),
    /// It failed; its batch was rolled back.
    Failed(T, ServerError),
    /// Another query of its batch failed, so its work was rolled back or skipped: send it again.
    Retry(T, Query),
}

/// A `NOTIFY` the server passed on (for a channel this session listens on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The channel.
    pub channel: String,
    /// The payload.
    pub payload: String,
}

/// A query in flight and what has come back for it so far.
struct InFlight<T> {
    tag: T,
    query: Query,
    rows: Vec<DataRowBody>,
}

/// The queries sent with one `Sync`.
struct Batch<T> {
    queries: Vec<InFlight<T>>,
    /// The query the next reply is for (replies come in order).
    next: usize,
    /// The query that failed, and how.
    failed: Option<(usize, ServerError)>,
}

/// One connection's protocol state.
pub struct Session<T> {
    login: Login,
    statements: &'static [Statement],
    phase: Phase,
    auth: Auth,
    input: BytesMut,
    output: BytesMut,
    batches: VecDeque<Batch<T>>,
    in_flight: usize,
    notifications: Vec<Notification>,
}

impl<T> fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Session {{ phase: {:?}, in_flight: {} }}", self.phase, self.in_flight)
    }
}

impl<T> Session<T> {
    /// A new session: its startup message is already in [`Session::output`]. Once logged in it
    /// prepares `statements` (none: it is ready at once).
    pub fn new(login: Login, statements: &'static [Statement]) -> Session<T> {
        let mut output = BytesMut::with_capacity(4096);
        let parameters = [
            ("user", login.user.as_str()),
            ("database", login.database.as_str()),
            ("application_name", "pollserve"),
            ("client_encoding", "UTF8"),
        ];
        // Fails only for a NUL byte in a parameter, which the URL parser refuses.
        let _ = frontend::startup_message(parameters, &mut output);
        Session {
            login,
            statements,
            phase: Phase::Authenticating,
            auth: Auth::Started,
            input: BytesMut::with_capacity(16 * 1024),
            output,
            batches: VecDeque::new(),
            in_flight: 0,
            notifications: Vec::new(),
        }
    }

    /// Where the session is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Queries sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The oldest query in flight (the first of the first batch: the next to be answered).
    pub fn first_in_flight(&self) -> Option<&T> {
        self.batches.front().and_then(|batch| batch.queries.first()).map(|query| &query.tag)
    }

    /// Bytes waiting to be written to the server; the caller removes what it wrote.
    pub fn output(&mut self) -> &mut BytesMut {
        &mut self.output
    }

    /// Sends `queries` as one batch (one `Sync`). Only when [`Phase::Ready`].
    pub fn send(&mut self, queries: impl IntoIterator<Item = (T, Query)>) {
        let mut batch = Batch { queries: Vec::new(), next: 0, failed: None };
        for (tag, query) in queries {
            self.output.extend_from_slice(&query.bytes);
            batch.queries.push(InFlight { tag, query, rows: Vec::new() });
        }
        if batch.queries.is_empty() {
            return;
        }
        if !batch.queries[0].query.simple {
            frontend::sync(&mut self.output);
        }
        self.in_flight += batch.queries.len();
        self.batches.push_back(batch);
    }

    /// Takes the notifications received so far.
    pub fn notifications(&mut self) -> std::vec::Drain<'_, Notification> {
        self.notifications.drain(..)
    }

    /// Takes every query in flight, for answering when the connection is lost.
    pub fn abandon(&mut self) -> impl Iterator<Item = T> + '_ {
        self.in_flight = 0;
        self.batches.drain(..).flat_map(|batch| batch.queries.into_iter().map(|q| q.tag))
    }

    /// Takes bytes from the server, handling every complete message; finished queries go to
    /// `outcomes`. The bytes may be split anywhere.
    pub fn receive(&mut self, bytes: &[u8], outcomes: &mut Vec<Outcome<T>>) -> Result<(), Fatal> {
        self.input.extend_from_slice(bytes);
        loop {
            check_length(&self.input)?;
            let message = Message::parse(&mut self.input).map_err(protocol)?;
            let Some(message) = message else { return Ok(()) };
            self.handle(message, outcomes)?;
        }
    }

    fn handle(&mut self, message: Message, outcomes: &mut Vec<Outcome<T>>) -> Result<(), Fatal> {
        match message {
            // Asynchronous messages can arrive at any time.
            Message::NoticeResponse(_) | Message::ParameterStatus(_) => Ok(()),
            Message::NotificationResponse(body) => {
                let channel = body.channel().map_err(protocol)?.to_owned();
                let payload = body.message().map_err(protocol)?.to_owned();
                self.notifications.push(Notification { channel, payload });
                Ok(())
            }
            message => match self.phase {
                Phase::Authenticating => self.authenticate(message),
                Phase::Starting => self.start(message),
                Phase::Preparing => self.prepared(message),
                Phase::Ready => self.reply(message, outcomes),
            },
        }
    }

    /// A reply to the queries in flight.
    fn reply(&mut self, message: Message, outcomes: &mut Vec<Outcome<T>>) -> Result<(), Fatal> {
        let Some(batch) = self.batches.front_mut() else {
            return Err(match message {
                // The server ending the session (shutting down, say) between queries.
                Message::ErrorResponse(body) => Fatal::Server(ServerError::from_body(&body)),
                _ => protocol("a reply with no query in flight"),
            });
        };
        let simple = batch.queries[0].query.simple;
        match message {
            Message::BindComplete | Message::RowDescription(_) | Message::NoData => {}
            Message::DataRow(row) => match batch.queries.get_mut(batch.next) {
                Some(query) if batch.failed.is_none() => query.rows.push(row),
                _ => return Err(protocol("a row with no query to take it")),
            },
            Message::CommandComplete(_) | Message::EmptyQueryResponse if !simple => {
                if batch.next >= batch.queries.len() || batch.failed.is_some() {
                    return Err(protocol("more results than queries"));
                }
                batch.next += 1;
            }
            // A simple query completes at ReadyForQuery, however many statements it held.
            Message::CommandComplete(_) | Message::EmptyQueryResponse => {}
            Message::ErrorResponse(body) => {
                if batch.failed.is_some() || batch.next >= batch.queries.len() {
                    return Err(Fatal::Server(ServerError::from_body(&body)));
                }
                batch.failed = Some((batch.next, ServerError::from_body(&body)));
            }
            Message::ReadyForQuery(_) => {
                let finished = batch.failed.is_some() || batch.next == batch.queries.len() || simple;
                if !finished {
                    return Err(protocol("the batch ended before every query was answered"));
                }
                self.finish_batch(outcomes);
            }
            _ => return Err(protocol("unexpected message in reply to a query")),
        }
        Ok(())
    }

    /// The batch's `ReadyForQuery`: it committed, or it was rolled back at a failed query.
    fn finish_batch(&mut self, outcomes: &mut Vec<Outcome<T>>) {
        let Some(batch) = self.batches.pop_front() else { return };
        self.in_flight -= batch.queries.len();
        match batch.failed {
            None => outcomes.extend(batch.queries.into_iter().map(|q| Outcome::Rows(q.tag, q.rows))),
            Some((failed, error)) => {
                let mut error = Some(error);
                for (index, query) in batch.queries.into_iter().enumerate() {
                    outcomes.push(match error.take_if(|_| index == failed) {
                        Some(error) => Outcome::Failed(query.tag, error),
                        None => Outcome::Retry(query.tag, query.query),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
