//! What can go wrong in a session: an error the server reports ([`ServerError`]), and the
//! faults after which the connection cannot go on ([`Fatal`]).

use std::fmt;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::ErrorResponseBody;

/// An error the server reported (an `ErrorResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The SQLSTATE code, e.g. `23505` for a unique violation.
    pub code: String,
    /// The primary message.
    pub message: String,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.code)
    }
}

impl ServerError {
    /// The error an `ErrorResponse` carries.
    pub(super) fn from_body(body: &ErrorResponseBody) -> ServerError {
        let mut error = ServerError { code: String::new(), message: String::new() };
        let mut fields = body.fields();
        while let Ok(Some(field)) = fields.next() {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'C' => error.code = value,
                b'M' => error.message = value,
                _ => {}
            }
        }
        error
    }

    /// Whether the query may succeed if simply run again: a serialization failure or a
    /// deadlock (class 40, transaction rollback).
    pub fn is_transient(&self) -> bool {
        self.code.starts_with("40")
    }

    /// Whether the server refused the login itself (wrong password, unknown role or database,
    /// not allowed to connect): retrying will not help.
    pub fn is_login_refused(&self) -> bool {
        // Class 28: invalid authorization; 3D000: invalid catalog name (no such database).
        self.code.starts_with("28") || self.code == "3D000"
    }
}

/// Why a session cannot go on: the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fatal {
    /// The server refused the login or failed the session (an `ErrorResponse` outside a query).
    Server(ServerError),
    /// The server sent something this client does not understand or did not expect.
    Protocol(String),
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fatal::Server(e) => write!(f, "{e}"),
            Fatal::Protocol(what) => write!(f, "protocol error: {what}"),
        }
    }
}

/// A [`Fatal::Protocol`] saying what was wrong.
pub(super) fn protocol(what: impl fmt::Display) -> Fatal {
    Fatal::Protocol(what.to_string())
}
