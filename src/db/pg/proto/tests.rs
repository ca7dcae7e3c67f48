//! The session's states, one by one, fed server bytes from memory.

use super::*;
use crate::db::pg::sql::oid;
use postgres_protocol::authentication::md5_hash;

/// A backend message: tag, length, body.
fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn auth(code: u32, rest: &[u8]) -> Vec<u8> {
    msg(b'R', &[&code.to_be_bytes()[..], rest].concat())
}

fn ready() -> Vec<u8> {
    msg(b'Z', b"I")
}

fn error(code: &str, message: &str) -> Vec<u8> {
    msg(b'E', format!("SERROR\0C{code}\0M{message}\0\0").as_bytes())
}

fn data_row(value: &[u8]) -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    body.extend_from_slice(&(value.len() as u32).to_be_bytes());
    body.extend_from_slice(value);
    msg(b'D', &body)
}

fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', format!("{tag}\0").as_bytes())
}

fn bind_complete() -> Vec<u8> {
    msg(b'2', b"")
}

static ONE: &[Statement] = &[Statement { name: "one", sql: "SELECT $1", params: &[oid::INT8] }];

fn login() -> Login {
    Login { user: "ann".into(), password: "secret".into(), database: "db".into() }
}

/// What a test sees of an outcome: the tag and a summary.
fn summary(outcomes: &mut Vec<Outcome<u32>>) -> Vec<(u32, String)> {
    outcomes
        .drain(..)
        .map(|outcome| match outcome {
            Outcome::Rows(tag, rows) => (tag, format!("rows {}", rows.len())),
            Outcome::Failed(tag, e) => (tag, format!("failed {}", e.code)),
            Outcome::Retry(tag, _) => (tag, "retry".to_owned()),
        })
        .collect()
}

fn feed(session: &mut Session<u32>, bytes: &[u8]) -> Result<Vec<(u32, String)>, Fatal> {
    let mut outcomes = Vec::new();
    session.receive(bytes, &mut outcomes)?;
    Ok(summary(&mut outcomes))
}

/// A session that logged in (cleartext) and prepared [`ONE`].
fn ready_session() -> Session<u32> {
    let mut session = Session::new(login(), ONE);
    let handshake = [
        auth(3, b""),
        auth(0, b""),
        msg(b'S', b"server_version\x0015\0"),
        msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]),
        ready(),
        msg(b'1', b""),
        ready(),
    ]
    .concat();
    feed(&mut session, &handshake).unwrap();
    assert_eq!(session.phase(), Phase::Ready);
    session.output().clear();
    session
}

fn query(n: i64) -> Query {
    Query::prepared(&ONE[0], &[&n]).unwrap()
}

#[test]
fn logs_in_with_a_cleartext_password_then_prepares() {
    let mut session: Session<u32> = Session::new(login(), ONE);
    assert_eq!(session.phase(), Phase::Authenticating);
    assert!(session.output().windows(3).any(|w| w == b"ann"), "the startup message names the user");
    session.output().clear();
    feed(&mut session, &auth(3, b"")).unwrap();
    assert_eq!(&session.output()[..], &msg(b'p', b"secret\0")[..]);
    session.output().clear();
    feed(&mut session, &[auth(0, b""), msg(b'K', &[0; 8])].concat()).unwrap();
    assert_eq!(session.phase(), Phase::Starting);
    feed(&mut session, &ready()).unwrap();
    assert_eq!(session.phase(), Phase::Preparing);
    let output = session.output().to_vec();
    assert_eq!((output[0], output[output.len() - 5]), (b'P', b'S'), "Parse, then Sync");
    feed(&mut session, &[msg(b'1', b""), ready()].concat()).unwrap();
    assert_eq!(session.phase(), Phase::Ready);
}

#[test]
fn answers_an_md5_request_with_the_salted_hash() {
    let mut session: Session<u32> = Session::new(login(), ONE);
    session.output().clear();
    feed(&mut session, &auth(5, &[1, 2, 3, 4])).unwrap();
    let expected = md5_hash(b"ann", b"secret", [1, 2, 3, 4]);
    let output = session.output().to_vec();
    assert_eq!(&output[5..output.len() - 1], expected.as_bytes());
}

#[test]
fn starts_scram_when_the_server_offers_it_and_refuses_other_mechanisms() {
    let mut session: Session<u32> = Session::new(login(), ONE);
    session.output().clear();
    feed(&mut session, &auth(10, b"SCRAM-SHA-256\0\0")).unwrap();
    assert_eq!(session.output()[0], b'p');
    assert!(session.output().windows(13).any(|w| w == b"SCRAM-SHA-256"));
    let mut other: Session<u32> = Session::new(login(), ONE);
    assert!(matches!(feed(&mut other, &auth(10, b"OTHER\0\0")), Err(Fatal::Protocol(_))));
}

#[test]
fn a_refused_login_is_fatal_and_says_so() {
    let mut session: Session<u32> = Session::new(login(), ONE);
    let refused = feed(&mut session, &error("28P01", "password authentication failed for user \"ann\""));
    match refused {
        Err(Fatal::Server(e)) => assert!(e.is_login_refused() && e.message.contains("password"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    let mut session: Session<u32> = Session::new(login(), ONE);
    let Err(Fatal::Server(e)) = feed(&mut session, &error("3D000", "database \"db\" does not exist")) else {
        panic!("not fatal")
    };
    assert!(e.is_login_refused());
}

#[test]
fn a_failed_prepare_is_fatal() {
    let mut session: Session<u32> = Session::new(login(), ONE);
    feed(&mut session, &[auth(0, b""), ready()].concat()).unwrap();
    let failed = feed(&mut session, &error("42P01", "relation \"items\" does not exist"));
    assert!(matches!(failed, Err(Fatal::Server(ref e)) if !e.is_login_refused()), "{failed:?}");
}

#[test]
fn pipelined_batches_are_answered_in_order_and_only_at_their_sync() {
    let mut session = ready_session();
    session.send([(1, query(1)), (2, query(2))]);
    session.send([(3, query(3))]);
    assert_eq!(session.in_flight(), 3);
    assert_eq!(session.first_in_flight(), Some(&1));
    let syncs = session.output().iter().filter(|&&b| b == b'S').count();
    assert!(syncs >= 2, "one Sync per batch");
    let first =
        [bind_complete(), data_row(b"a"), complete("SELECT 1"), bind_complete(), complete("SELECT 0")]
            .concat();
    assert_eq!(feed(&mut session, &first).unwrap(), [], "nothing before the batch's ReadyForQuery");
    assert_eq!(feed(&mut session, &ready()).unwrap(), [(1, "rows 1".into()), (2, "rows 0".into())]);
    let second = [bind_complete(), data_row(b"b"), data_row(b"c"), complete("SELECT 2"), ready()].concat();
    assert_eq!(feed(&mut session, &second).unwrap(), [(3, "rows 2".into())]);
    assert_eq!(session.in_flight(), 0);
}

#[test]
fn a_failed_query_answers_alone_and_the_rest_of_its_batch_is_sent_again() {
    let mut session = ready_session();
    session.send([(1, query(1)), (2, query(2)), (3, query(3))]);
    let replies = [
        bind_complete(),
        complete("INSERT 0 1"),
        bind_complete(),
        error("23505", "duplicate"),
        msg(b'Z', b"E"),
    ];
    let got = feed(&mut session, &replies.concat()).unwrap();
    assert_eq!(got, [(1, "retry".into()), (2, "failed 23505".into()), (3, "retry".into())]);
    // The connection carries on.
    session.send([(4, query(4))]);
    assert_eq!(
        feed(&mut session, &[bind_complete(), complete("SELECT 0"), ready()].concat()).unwrap(),
        [(4, "rows 0".into())]
    );
}

#[test]
fn asynchronous_messages_are_taken_wherever_they_arrive() {
    let mut session = ready_session();
    session.send([(1, query(1))]);
    let notice = msg(b'N', b"SNOTICE\0Mhello\0\0");
    let status = msg(b'S', b"TimeZone\0UTC\0");
    let notification = msg(b'A', b"\0\0\0\x07channel\0payload\0");
    let replies = [
        bind_complete(),
        notice.clone(),
        data_row(b"x"),
        status,
        notification,
        complete("SELECT 1"),
        notice,
        ready(),
    ];
    assert_eq!(feed(&mut session, &replies.concat()).unwrap(), [(1, "rows 1".into())]);
    let got: Vec<Notification> = session.notifications().collect();
    assert_eq!(got, [Notification { channel: "channel".into(), payload: "payload".into() }]);
    assert_eq!(session.notifications().count(), 0, "taken once");
}

#[test]
fn replies_split_anywhere_give_the_same_outcomes() {
    let replies = [
        bind_complete(),
        data_row(b"a"),
        complete("SELECT 1"),
        bind_complete(),
        error("23505", "dup"),
        msg(b'Z', b"E"),
    ]
    .concat();
    let whole = {
        let mut session = ready_session();
        session.send([(1, query(1)), (2, query(2))]);
        feed(&mut session, &replies).unwrap()
    };
    for split in 0..replies.len() {
        let mut session = ready_session();
        session.send([(1, query(1)), (2, query(2))]);
        let mut got = feed(&mut session, &replies[..split]).unwrap();
        got.extend(feed(&mut session, &replies[split..]).unwrap());
        assert_eq!(got, whole, "split at {split}");
    }
}

#[test]
fn replies_nobody_asked_for_are_fatal() {
    let mut session = ready_session();
    assert!(matches!(feed(&mut session, &data_row(b"x")), Err(Fatal::Protocol(_))));
    let mut session = ready_session();
    session.send([(1, query(1))]);
    let early = [bind_complete(), ready()].concat();
    assert!(matches!(feed(&mut session, &early), Err(Fatal::Protocol(_))));
    let mut session = ready_session();
    assert!(matches!(feed(&mut session, &[b'D', 0, 0, 0, 1]), Err(Fatal::Protocol(_))), "a length under 4");
}

#[test]
fn a_message_claiming_more_than_the_limit_is_fatal_before_its_body_arrives() {
    let header = |len: usize| [&[b'D'][..], &u32::try_from(len).unwrap().to_be_bytes()].concat();
    for len in [MAX_MESSAGE + 1, u32::MAX as usize] {
        let fatal = feed(&mut ready_session(), &header(len)).unwrap_err();
        assert!(matches!(&fatal, Fatal::Protocol(what) if what.contains("more than")), "{fatal:?}");
    }
    // At the limit, the session waits for the rest of the message.
    assert_eq!(feed(&mut ready_session(), &header(MAX_MESSAGE)).unwrap(), []);
    // The fuzz finding (pg_session, 2026-12-01): a header claiming 4 GiB after two replies had
    // `Message::parse` reserve 4 GiB for it.
    let mut session = ready_session();
    session.send([(1, query(1))]);
    let finding = b"2\0\0\0\x04C\0\0\0\x0dSMLECT \x08\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xf7\xff\0";
    let fatal = feed(&mut session, finding).unwrap_err();
    assert!(matches!(&fatal, Fatal::Protocol(what) if what.contains("more than")), "{fatal:?}");
}

#[test]
fn abandoning_answers_everything_in_flight() {
    let mut session = ready_session();
    session.send([(1, query(1)), (2, query(2))]);
    session.send([(3, query(3))]);
    assert_eq!(session.abandon().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(session.in_flight(), 0);
}

#[test]
fn a_simple_query_completes_at_ready_for_query() {
    let mut session: Session<u32> = Session::new(login(), &[]);
    feed(&mut session, &[auth(0, b""), ready()].concat()).unwrap();
    assert_eq!(session.phase(), Phase::Ready, "nothing to prepare");
    session.send([(1, Query::simple("BEGIN; SELECT 1; COMMIT"))]);
    let replies = [
        complete("BEGIN"),
        msg(b'T', &[0, 0]),
        data_row(b"1"),
        complete("SELECT 1"),
        complete("COMMIT"),
        ready(),
    ];
    assert_eq!(feed(&mut session, &replies.concat()).unwrap(), [(1, "rows 1".into())]);
}
