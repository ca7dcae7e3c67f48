//! Start-up work on a blocking connection of its own, before (or beside) the event loops:
//! check that the login works, migrate the schema, load the live tokens. It uses the same
//! [`Session`] as the loop's connections, driven by a blocking socket with timeouts.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Buf;
use postgres_protocol::message::backend::DataRowBody;

use super::client::Settings;
use super::proto::{Fatal, Outcome, Phase, Query, ServerError, Session};
use super::sql::{self, Statement};
use super::store::live_tokens;
use crate::store::TokenRow;

/// How long start-up waits on the server for any one step.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why start-up work failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// The server refused the login (wrong password, unknown role or database): retrying will
    /// not help.
    Refused(ServerError),
    /// The server could not be reached, or the connection broke: worth retrying.
    Unreachable(String),
    /// The server failed a statement (a migration, say).
    Failed(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Refused(e) => write!(f, "PostgreSQL refused the login: {}", e.message),
            SetupError::Unreachable(e) | SetupError::Failed(e) => f.write_str(e),
        }
    }
}

/// The statements start-up prepares.
static SETUP_STATEMENTS: &[Statement] = &[sql::LIVE_TOKENS];

/// A blocking connection for start-up work.
struct Blocking {
    stream: TcpStream,
    session: Session<()>,
    outcomes: Vec<Outcome<()>>,
}

impl Blocking {
    fn connect(settings: &Settings, statements: &'static [Statement]) -> Result<Blocking, SetupError> {
        let unreachable = |e: std::io::Error| {
            SetupError::Unreachable(format!("cannot connect to PostgreSQL at {}: {e}", settings.addr))
        };
        let stream =
            TcpStream::connect_timeout(&settings.addr, settings.connect_timeout).map_err(unreachable)?;
        stream.set_read_timeout(Some(STEP_TIMEOUT)).map_err(unreachable)?;
        stream.set_write_timeout(Some(STEP_TIMEOUT)).map_err(unreachable)?;
        let _ = stream.set_nodelay(true);
        let mut connection = Blocking {
            stream,
            session: Session::new(settings.login.clone(), statements),
            outcomes: Vec::new(),
        };
        while connection.session.phase() != Phase::Ready {
            connection.exchange()?;
        }
        Ok(connection)
    }

    /// Writes what is pending, then reads once.
    fn exchange(&mut self) -> Result<(), SetupError> {
        let broken =
            |e: std::io::Error| SetupError::Unreachable(format!("the PostgreSQL connection broke: {e}"));
        let output = self.session.output();
        self.stream.write_all(output).map_err(broken)?;
        output.advance(output.len());
        let mut buf = [0u8; 16 * 1024];
        let n = self.stream.read(&mut buf).map_err(broken)?;
        if n == 0 {
            return Err(SetupError::Unreachable("PostgreSQL closed the connection".to_owned()));
        }
        self.session.receive(&buf[..n], &mut self.outcomes).map_err(|fatal| match fatal {
            Fatal::Server(e) if e.is_login_refused() => SetupError::Refused(e),
            Fatal::Server(e) => SetupError::Failed(format!("PostgreSQL: {e}")),
            Fatal::Protocol(what) => SetupError::Failed(format!("PostgreSQL {what}")),
        })
    }

    /// Runs one query and returns its rows.
    fn run(&mut self, query: Query) -> Result<Vec<DataRowBody>, SetupError> {
        self.session.send([((), query)]);
        loop {
            match self.outcomes.pop() {
                Some(Outcome::Rows((), rows)) => return Ok(rows),
                Some(Outcome::Failed((), e)) => return Err(SetupError::Failed(format!("PostgreSQL: {e}"))),
                Some(Outcome::Retry(..)) => {
                    return Err(SetupError::Failed("a lone query was retried".to_owned()));
                }
                None => self.exchange()?,
            }
        }
    }

    fn simple(&mut self, sql: &str) -> Result<Vec<DataRowBody>, SetupError> {
        self.run(Query::simple(sql))
    }
}

/// Checks the login, applies every migration the database lacks (in one transaction, under an
/// advisory lock so concurrent start-ups take turns) and returns the live tokens.
pub fn setup(settings: &Settings, now: i64) -> Result<Vec<TokenRow>, SetupError> {
    migrate(&mut Blocking::connect(settings, &[])?)?;
    let mut connection = Blocking::connect(settings, SETUP_STATEMENTS)?;
    let query = Query::prepared(&sql::LIVE_TOKENS, &[&now]).map_err(SetupError::Failed)?;
    let rows = connection.run(query)?;
    live_tokens(&rows).map_err(|e| SetupError::Failed(e.cause))
}

fn migrate(connection: &mut Blocking) -> Result<(), SetupError> {
    connection.simple("BEGIN")?;
    connection.simple(&format!("SELECT pg_advisory_xact_lock({})", sql::MIGRATION_LOCK))?;
    connection.simple(sql::MIGRATIONS_TABLE)?;
    let rows = connection.simple("SELECT coalesce(max(version), 0) FROM schema_migrations")?;
    let version = rows
        .first()
        .and_then(|row| {
            super::rows::Row::new(row)
                .ok()
                .and_then(|r| r.get::<&str>(0, &postgres_types::Type::TEXT).ok().map(str::to_owned))
        })
        .and_then(|text| text.parse::<usize>().ok())
        .ok_or_else(|| SetupError::Failed("cannot read the schema version".to_owned()))?;
    for (index, migration) in sql::MIGRATIONS.iter().enumerate().skip(version) {
        connection.simple(migration)?;
        connection.simple(&format!("INSERT INTO schema_migrations (version) VALUES ({})", index + 1))?;
    }
    connection.simple("COMMIT")?;
    Ok(())
}
