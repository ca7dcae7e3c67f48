//! A PostgreSQL session fed arbitrary server bytes, logging in or with queries in flight, in two
//! pieces: no panic, and the same outcomes (and the same fatal error, if any) as in one piece.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pollserve::db::pg::proto::{Login, Outcome, Query, Session};
use pollserve::db::pg::sql;

fn login() -> Login {
    Login { user: "fuzz".into(), password: "secret".into(), database: "db".into() }
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A session that logged in and prepared every statement, with three queries in flight in two
/// batches.
fn busy_session() -> Session<u8> {
    let mut session = Session::new(login(), sql::STATEMENTS);
    let mut handshake = [msg(b'R', &[0, 0, 0, 0]), msg(b'Z', b"I")].concat();
    handshake.extend((0..sql::STATEMENTS.len()).flat_map(|_| msg(b'1', b"")));
    handshake.extend(msg(b'Z', b"I"));
    session.receive(&handshake, &mut Vec::new()).expect("the canned handshake");
    let query = || Query::prepared(&sql::ITEM, &[&1i64]).expect("a query");
    session.send([(1, query()), (2, query())]);
    session.send([(3, query())]);
    session
}

/// What a piece of input did: the outcomes in order, then the fatal error if any.
fn run(mut session: Session<u8>, pieces: &[&[u8]]) -> Vec<String> {
    let mut outcomes = Vec::new();
    let mut seen = Vec::new();
    for piece in pieces {
        let result = session.receive(piece, &mut outcomes);
        seen.extend(outcomes.drain(..).map(|outcome| match outcome {
            Outcome::Rows(tag, rows) => {
                format!("{tag} rows {:?}", rows.iter().map(|r| r.buffer().to_vec()).collect::<Vec<_>>())
            }
            Outcome::Failed(tag, error) => format!("{tag} failed {error:?}"),
            Outcome::Retry(tag, _) => format!("{tag} retry"),
        }));
        if let Err(fatal) = result {
            seen.push(format!("fatal {fatal:?}"));
            break;
        }
    }
    seen.push(format!("{:?} in flight {}", session.phase(), session.in_flight()));
    seen
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else { return };
    let fresh = || if control & 1 == 0 { Session::new(login(), sql::STATEMENTS) } else { busy_session() };
    let whole = run(fresh(), &[bytes]);
    let cut = usize::from(control >> 1) * bytes.len() / 127;
    let split = run(fresh(), &[&bytes[..cut.min(bytes.len())], &bytes[cut.min(bytes.len())..]]);
    assert_eq!(whole, split, "split at {cut}");
});
