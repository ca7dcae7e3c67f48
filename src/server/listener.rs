//! Listening sockets: one per worker, all bound to the same address with `SO_REUSEPORT`, so
//! the kernel spreads new connections across workers and no accept lock is shared; but only
//! when no other process listens there.

use std::io;
use std::net::SocketAddr;

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

/// Pending-connection queue length asked of the kernel (capped by `net.core.somaxconn`).
/// 1024 absorbs a burst of `wrk -c 1000` connects while a worker is busy.
pub const BACKLOG: i32 = 1024;

/// Binds `count` non-blocking listeners to `addr`. With port 0 the first bind picks the port
/// and the others join it, so every listener shares the one real address. Fails with
/// `AddrInUse` when anything else listens there already, another pollserve included.
pub fn bind_all(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    if addr.port() != 0 {
        check_unused(addr)?;
    }
    let first = bind(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(bind(addr)?);
    }
    Ok(listeners)
}

/// Fails with `AddrInUse` if any socket listens on `addr`. `SO_REUSEPORT` alone would let a
/// second process of the same user join the port, and the kernel would split connections
/// between old and new code. A probe without it cannot bind beside a listener, ours or another's;
/// with `SO_REUSEADDR` it still binds beside connections in TIME_WAIT. (Two servers started in
/// the same instant could both pass; one started beside a running one cannot.)
fn check_unused(addr: SocketAddr) -> io::Result<()> {
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_set_of_listeners_on_a_taken_port_is_refused() {
        let first = bind_all("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let addr = first[0].local_addr().unwrap();
        let second = bind_all(addr, 2).map(|_| ());
        assert_eq!(second.unwrap_err().kind(), io::ErrorKind::AddrInUse);
        drop(first);
        assert!(bind_all(addr, 2).is_ok(), "a freed port can be bound again");
    }
}
