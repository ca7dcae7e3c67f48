//! Listening sockets: one per worker, all bound to the same address with `SO_REUSEPORT`, so
//! the kernel spreads new connections across workers and no accept lock is shared.

use std::io;
use std::net::SocketAddr;

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

/// Pending-connection queue length asked of the kernel (capped by `net.core.somaxconn`).
/// 1024 absorbs a burst of `wrk -c 1000` connects while a worker is busy.
pub const BACKLOG: i32 = 1024;

/// Binds `count` non-blocking listeners to `addr`. With port 0 the first bind picks the port
/// and the others join it, so every listener shares the one real address.
pub fn bind_all(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    let first = bind(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(bind(addr)?);
    }
    Ok(listeners)
}

/// Binds one non-blocking listener with `SO_REUSEADDR` and `SO_REUSEPORT`.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}
