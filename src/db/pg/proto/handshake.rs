//! A session's start: logging in (cleartext, MD5 or SCRAM-SHA-256, via `postgres-protocol`),
//! then preparing its statements once, each step moved on by the server's next message.
//! [`Phase`] says where a session is; these are its `Authenticating`, `Starting` and
//! `Preparing` steps.

use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use super::errors::protocol;
use super::{Fatal, Phase, ServerError, Session};

/// How a session logs in.
pub(super) enum Auth {
    /// Waiting for the server's first authentication request.
    Started,
    /// SCRAM-SHA-256 in progress.
    Scram(Box<ScramSha256>),
    /// The server said `AuthenticationOk`.
    Done,
}

impl<T> Session<T> {
    pub(super) fn authenticate(&mut self, message: Message) -> Result<(), Fatal> {
        let password = self.login.password.as_bytes();
        match (message, &mut self.auth) {
            (Message::AuthenticationOk, _) => {
                self.auth = Auth::Done;
                self.phase = Phase::Starting;
            }
            (Message::AuthenticationCleartextPassword, Auth::Started) => {
                frontend::password_message(password, &mut self.output).map_err(protocol)?;
            }
            (Message::AuthenticationMd5Password(body), Auth::Started) => {
                let hash = md5_hash(self.login.user.as_bytes(), password, body.salt());
                frontend::password_message(hash.as_bytes(), &mut self.output).map_err(protocol)?;
            }
            (Message::AuthenticationSasl(body), Auth::Started) => {
                let mut mechanisms = body.mechanisms();
                let mut scram = false;
                while let Some(mechanism) = mechanisms.next().map_err(protocol)? {
                    scram |= mechanism == SCRAM_SHA_256;
                }
                if !scram {
                    return Err(protocol("the server offers no SASL mechanism this client supports"));
                }
                let scram = ScramSha256::new(password, ChannelBinding::unsupported());
                frontend::sasl_initial_response(SCRAM_SHA_256, scram.message(), &mut self.output)
                    .map_err(protocol)?;
                self.auth = Auth::Scram(Box::new(scram));
            }
            (Message::AuthenticationSaslContinue(body), Auth::Scram(scram)) => {
                scram.update(body.data()).map_err(protocol)?;
                frontend::sasl_response(scram.message(), &mut self.output).map_err(protocol)?;
            }
            (Message::AuthenticationSaslFinal(body), Auth::Scram(scram)) => {
                scram.finish(body.data()).map_err(protocol)?;
            }
            (Message::ErrorResponse(body), _) => return Err(Fatal::Server(ServerError::from_body(&body))),
            (_, _) => return Err(protocol("unexpected message while authenticating")),
        }
        Ok(())
    }

    pub(super) fn start(&mut self, message: Message) -> Result<(), Fatal> {
        match message {
            Message::BackendKeyData(_) => Ok(()),
            Message::ReadyForQuery(_) => {
                self.prepare();
                Ok(())
            }
            Message::ErrorResponse(body) => Err(Fatal::Server(ServerError::from_body(&body))),
            _ => Err(protocol("unexpected message while starting")),
        }
    }

    /// Parses every statement once, then `Sync`.
    fn prepare(&mut self) {
        if self.statements.is_empty() {
            self.phase = Phase::Ready;
            return;
        }
        for statement in self.statements {
            let types = statement.params.iter().copied();
            // Fails only for a NUL byte in the SQL, which the statements here do not have.
            let _ = frontend::parse(statement.name, statement.sql, types, &mut self.output);
        }
        frontend::sync(&mut self.output);
        self.phase = Phase::Preparing;
    }

    pub(super) fn prepared(&mut self, message: Message) -> Result<(), Fatal> {
        match message {
            Message::ParseComplete => Ok(()),
            Message::ReadyForQuery(_) => {
                self.phase = Phase::Ready;
                Ok(())
            }
            Message::ErrorResponse(body) => Err(Fatal::Server(ServerError::from_body(&body))),
            _ => Err(protocol("unexpected message while preparing statements")),
        }
    }
}
