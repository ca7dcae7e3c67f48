//! What a non-blocking call's error means: nothing more for now, or interrupted (retry). Used
//! by every socket the loops drive (the server's and PostgreSQL's).

use std::io;

/// The operation would block: the socket (or listener) has nothing more for now.
pub(crate) fn would_block(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock
}

/// A signal interrupted the system call: retry it.
pub(crate) fn interrupted(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::Interrupted
}
