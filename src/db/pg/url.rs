//! `postgres://USER:PASSWORD@HOST:PORT/DBNAME` (or `postgresql://`), as `--db` takes it.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use percent_encoding::percent_decode_str;

use super::proto::Login;

/// The port PostgreSQL listens on unless the URL says otherwise.
pub const DEFAULT_PORT: u16 = 5432;

/// A parsed connection URL.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    /// Who to log in as, and into which database.
    pub login: Login,
    /// The host name or address.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Shown without the password, e.g. in the start-up summary and in errors.
impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres://{}@{}:{}/{}", self.login.user, self.host, self.port, self.login.database)
    }
}

impl PgUrl {
    /// Whether `value` is meant as a PostgreSQL URL.
    pub fn is_url(value: &str) -> bool {
        value.starts_with("postgres://") || value.starts_with("postgresql://")
    }

    /// Parses a URL; the error says what is wrong in one line.
    pub fn parse(value: &str) -> Result<PgUrl, String> {
        let rest = value
            .strip_prefix("postgres://")
            .or_else(|| value.strip_prefix("postgresql://"))
            .ok_or("a PostgreSQL URL starts with postgres:// or postgresql://")?;
        let expected = "expected postgres://USER:PASSWORD@HOST:PORT/DBNAME";
        let (authority, database) = rest.split_once('/').ok_or(expected)?;
        let database = database.split_once('?').map_or(database, |(name, _)| name);
        let (userinfo, hostport) = authority.rsplit_once('@').ok_or(expected)?;
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let (host, port) = match hostport.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or("the port must be a number from 1 to 65535")?,
            ),
            None => (hostport, DEFAULT_PORT),
        };
        let decode = |part: &str, what: &str| -> Result<String, String> {
            let decoded =
                percent_decode_str(part).decode_utf8().map_err(|_| format!("the {what} is not UTF-8"))?;
            if decoded.contains('\0') {
                return Err(format!("the {what} contains a NUL byte"));
            }
            Ok(decoded.into_owned())
        };
        let login = Login {
            user: decode(user, "user")?,
            password: decode(password, "password")?,
            database: decode(database, "database name")?,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        if login.user.is_empty() || login.database.is_empty() || host.is_empty() {
            return Err(expected.to_owned());
        }
        Ok(PgUrl { login, host, port })
    }

    /// The server's address (resolving the host name once; blocking: at start-up only).
    pub fn resolve(&self) -> Result<SocketAddr, String> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?
            .next()
            .ok_or_else(|| format!("{} has no address", self.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_says_what_is_wrong() {
        let url = PgUrl::parse("postgres://ann:s%40cret@127.0.0.1:5433/shop").unwrap();
        assert_eq!((url.login.user.as_str(), url.login.password.as_str()), ("ann", "s@cret"));
        assert_eq!((url.host.as_str(), url.port, url.login.database.as_str()), ("127.0.0.1", 5433, "shop"));
        assert_eq!(url.to_string(), "postgres://ann@127.0.0.1:5433/shop", "no password shown");
        let url = PgUrl::parse("postgresql://bob@localhost/db?sslmode=disable").unwrap();
        assert_eq!((url.port, url.login.password.as_str()), (DEFAULT_PORT, ""));
        for bad in [
            "postgres://host/db",
            "postgres://a@h:0/db",
            "postgres://a@h:x/db",
            "postgres://a@h",
            "postgres://a@h/",
        ] {
            assert!(PgUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
