//! The floor probe: pollserve's loop without its HTTP work. Every request (found by its empty
//! line, nothing else checked) is answered with fixed bytes as long as pollserve's answer to it
//! (`GET /plaintext` or `GET /`), the date and request id frozen. Not a server anyone should
//! run: a lower bound for the load test.
//!
//! With `--parse`, each request is found by pollserve's own head parser instead
//! (`pollserve::http::request::parse_head`: its request line, `httparse::parse_headers`, the
//! framing and `Host` checks), and a request it rejects closes the connection: the floor plus
//! exactly the parser pollserve runs, without its routing, middleware, request ids, encoding or
//! connection state machine. Usage: floor-probe ADDR WORKERS [--parse]

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use pollserve::http::request::{self, Parsed};
use pollserve::server::conn::ConnConfig;
use socket2::{Domain, Socket, Type};

/// pollserve's `GET /plaintext` answer, byte for byte but for a frozen date and id.
const PLAINTEXT: &[u8] = b"HTTP/1.1 200 OK\r\nServer: pollserve\r\nContent-Type: text/plain\r\n\
Content-Length: 13\r\nDate: Mon, 30 Nov 2026 16:00:02 GMT\r\nX-Request-Id: 4a4bee82-0-1\r\n\r\nHello, World!";

/// pollserve's `GET /` answer, likewise.
const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nServer: pollserve\r\nContent-Type: application/json\r\n\
Content-Length: 52\r\nDate: Mon, 30 Nov 2026 16:22:40 GMT\r\nX-Request-Id: 2488ff67-0-1\r\n\r\n\
{\"message\": \"Hello bro, this is your HTTP response\"}";

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    /// Bytes of `input` read and not yet answered (the start of an incomplete request).
    filled: usize,
    output: Vec<u8>,
    written: usize,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().and_then(|a| a.parse().ok()).unwrap_or(([127, 0, 0, 1], 8005).into());
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(1).max(1);
    let parse = match args.next().as_deref() {
        None => false,
        Some("--parse") => true,
        Some(other) => {
            eprintln!("floor-probe: unknown argument {other} (usage: floor-probe ADDR WORKERS [--parse])");
            std::process::exit(2);
        }
    };
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let listener = bind(addr).expect("listen");
            std::thread::spawn(move || serve(listener, parse))
        })
        .collect();
    let mode = if parse { " (requests parsed by pollserve's parser)" } else { "" };
    println!("floor-probe listening on http://{addr}{mode}");
    for thread in threads {
        let _ = thread.join();
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into()))
}

fn serve(mut listener: TcpListener, parse: bool) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = Events::with_capacity(1024);
    loop {
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => result?,
        }
        for event in &events {
            if event.token() == LISTENER {
                accept(&listener, &poll, &mut conns);
                continue;
            }
            let key = event.token().0;
            let Some(Some(conn)) = conns.get_mut(key) else { continue };
            if !conn.ready(parse) {
                conns[key] = None;
            }
        }
    }
}

fn accept(listener: &TcpListener, poll: &Poll, conns: &mut Vec<Option<Conn>>) {
    while let Ok((mut stream, _)) = listener.accept() {
        let _ = stream.set_nodelay(true);
        let key = conns.iter().position(Option::is_none).unwrap_or(conns.len());
        let interest = Interest::READABLE | Interest::WRITABLE;
        if poll.registry().register(&mut stream, Token(key), interest).is_err() {
            continue;
        }
        let conn = Conn {
            stream,
            input: vec![0; 16 * 1024],
            filled: 0,
            output: Vec::with_capacity(16 * 1024),
            written: 0,
        };
        if key == conns.len() {
            conns.push(Some(conn));
        } else {
            conns[key] = Some(conn);
        }
    }
}

impl Conn {
    /// Reads, answers and writes what it can; false when the connection is done.
    fn ready(&mut self, parse: bool) -> bool {
        let mut filled = self.filled;
        loop {
            if filled == self.input.len() {
                self.input.resize(filled * 2, 0);
            }
            match self.stream.read(&mut self.input[filled..]) {
                Ok(0) => return false,
                Ok(n) => {
                    filled += n;
                    if filled < self.input.len() {
                        break; // a short read drained the socket (epoll, edge-triggered)
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        let input = &self.input[..filled];
        let answered =
            if parse { answer_parsed(input, &mut self.output) } else { answer(input, &mut self.output) };
        let Some(at) = answered else { return false };
        self.input.copy_within(at..filled, 0);
        self.filled = filled - at;
        self.flush()
    }

    fn flush(&mut self) -> bool {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return false,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.output.clear();
        self.written = 0;
        true
    }
}

/// Answers every request in `input` found by its empty line; returns how many bytes they took.
fn answer(input: &[u8], output: &mut Vec<u8>) -> Option<usize> {
    let mut at = 0;
    while let Some(end) = input[at..].windows(4).position(|w| w == b"\r\n\r\n") {
        let plaintext = input.get(at + 5) == Some(&b'p');
        output.extend_from_slice(if plaintext { PLAINTEXT } else { HELLO });
        at += end + 4;
    }
    Some(at)
}

/// Answers every request in `input` that pollserve's parser accepts, as pollserve's connection
/// calls it (fresh header slots per request, its default head limit); `None` when it rejects one,
/// or one has a body (the load test sends none).
fn answer_parsed(input: &[u8], output: &mut Vec<u8>) -> Option<usize> {
    let max_head_bytes = ConnConfig::DEFAULT.max_head_bytes;
    let mut at = 0;
    loop {
        let mut slots = request::header_slots();
        let head = match request::parse_head(&input[at..], &mut slots, max_head_bytes) {
            Ok(Parsed::Complete(head)) => head,
            Ok(Parsed::Partial) => return Some(at),
            Err(_) => return None,
        };
        if head.framing != request::Framing::Empty {
            return None;
        }
        output.extend_from_slice(if head.path == b"/plaintext" { PLAINTEXT } else { HELLO });
        at += head.len;
    }
}
