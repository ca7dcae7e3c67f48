//! Versioned schema migrations, tracked in `PRAGMA user_version`: migration N brings a database
//! from version N-1 to N, inside one transaction.

use rusqlite::Connection;

/// Each entry is one migration; never edit a shipped one, append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: users, their tokens (only SHA-256 hashes), and items.
    "CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE tokens (
        token_hash BLOB PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL,
        revoked    INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE items (
        id         INTEGER PRIMARY KEY,
        title      TEXT NOT NULL,
        body       TEXT NOT NULL DEFAULT '',
        done       INTEGER NOT NULL DEFAULT 0,
        owner      INTEGER NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX items_owner ON items(owner);",
    // 2: failed logins per client address, for the login limiter.
    "CREATE TABLE login_failures (
        address TEXT NOT NULL,
        at      INTEGER NOT NULL
    );
    CREATE INDEX login_failures_address ON login_failures(address, at);",
];

/// The schema version this build expects.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Applies every migration newer than the database's `user_version`.
pub fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(current).unwrap_or(0)) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        // PRAGMA takes no parameters; the version is an integer this code computed.
        transaction.pragma_update(None, "user_version", index as i64 + 1)?;
        transaction.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_a_new_database_and_is_idempotent() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();
        migrate(&mut connection).unwrap();
        let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, latest());
        let tables: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |row| row.get(0))
            .unwrap();
        assert_eq!(tables, 4);
    }
}
