//! When a connection gives up waiting, decided in one place: the kind of deadline follows from
//! the state, and each kind says which progress restarts it.

use std::time::{Duration, Instant};

use super::ConnConfig;
use super::state::State;

/// After a request timeout (408) the connection is gone within this long, whatever the client
/// keeps sending: the 408 and the client's FIN get this long together, not a fresh write and
/// linger timeout each. A trickling client must not stretch the timeout it just ran out of.
pub const TIMED_OUT_GRACE: Duration = Duration::from_secs(1);

/// Which deadline applies to a connection right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// Keep-alive connection with nothing in flight.
    Idle,
    /// Part of a head has arrived.
    Header,
    /// A body is arriving.
    Body,
    /// Output is waiting for the client to read.
    Write,
    /// Waiting for the client's FIN after ours.
    Linger,
    /// A deferred response is due (504 after it).
    Handler,
}

impl TimerKind {
    /// The deadline for a connection in `state`; `buffered`: unconsumed input is waiting,
    /// `output_pending`: response bytes are. `None`: no deadline (closed, or a handler's own
    /// work bounds the wait — a dropped `Completer` answers 500).
    pub fn for_state(state: &State, buffered: bool, output_pending: bool) -> Option<TimerKind> {
        Some(match state {
            // Without a limit the handler's own work bounds the wait (a dropped Completer
            // answers 500).
            State::Awaiting(awaiting) => return awaiting.due.map(|_| TimerKind::Handler),
            State::Closed(_) => return None,
            State::Lingering { .. } => TimerKind::Linger,
            _ if output_pending => TimerKind::Write,
            State::ReadingBody(_) => TimerKind::Body,
            State::ReadingHead if buffered => TimerKind::Header,
            State::ReadingHead => TimerKind::Idle,
            State::BackedUp | State::Closing => TimerKind::Write,
        })
    }

    /// Whether a request was answered (`served`) or bytes moved (`moved`) counts as progress
    /// that restarts this deadline. The header deadline bounds a whole head, so trickled bytes
    /// do not extend it; body and write deadlines bound pauses.
    fn restarted_by(self, served: bool, moved: bool) -> bool {
        match self {
            TimerKind::Idle | TimerKind::Header => served,
            TimerKind::Body | TimerKind::Write => moved,
            TimerKind::Linger | TimerKind::Handler => false,
        }
    }

    fn duration(self, config: &ConnConfig) -> Duration {
        match self {
            TimerKind::Idle => config.idle_timeout,
            TimerKind::Header => config.header_timeout,
            TimerKind::Body => config.body_timeout,
            TimerKind::Write => config.write_timeout,
            TimerKind::Linger => config.linger_timeout,
            // Set from the handler's own limit (`Deadline::update`'s `due`); never read here.
            TimerKind::Handler => Duration::ZERO,
        }
    }
}

/// A connection's deadline: what it guards and when it passes.
#[derive(Debug, Clone)]
pub struct Deadline {
    /// The current deadline and what it guards; `None` when nothing is timed.
    current: Option<(TimerKind, Instant)>,
    /// A request was answered since the last update.
    served: bool,
    /// Bytes were read or written since the last update.
    moved: bool,
    /// Set once a request timed out: no deadline extends past it.
    close_by: Option<Instant>,
}

impl Deadline {
    /// The idle deadline of a new connection.
    pub fn new(config: &ConnConfig, now: Instant) -> Deadline {
        Deadline {
            current: Some((TimerKind::Idle, now + config.idle_timeout)),
            served: false,
            moved: false,
            close_by: None,
        }
    }

    /// When it passes, if ever.
    pub fn at(&self) -> Option<Instant> {
        self.current.map(|(_, at)| at)
    }

    /// The kind of deadline that passed by `now`, if one did.
    pub fn expired(&self, now: Instant) -> Option<TimerKind> {
        self.current.filter(|&(_, at)| at <= now).map(|(kind, _)| kind)
    }

    /// The deadline passed and was acted on: the next update starts a fresh one.
    pub fn clear(&mut self) {
        self.current = None;
    }

    /// A request was answered.
    pub fn note_served(&mut self) {
        self.served = true;
    }

    /// Bytes were read or written.
    pub fn note_moved(&mut self) {
        self.moved = true;
    }

    /// A request timed out at `now`: the connection is gone within [`TIMED_OUT_GRACE`].
    pub fn close_within_grace(&mut self, now: Instant) {
        self.close_by = Some(now + TIMED_OUT_GRACE);
    }

    /// Sets the deadline for `kind` (see [`TimerKind::for_state`]): restarted when the kind
    /// changed, after [`Deadline::clear`], or on progress the kind counts; never past the grace.
    pub fn update(
        &mut self,
        kind: Option<TimerKind>,
        due: Option<Instant>,
        config: &ConnConfig,
        now: Instant,
    ) {
        let (served, moved) = (std::mem::take(&mut self.served), std::mem::take(&mut self.moved));
        let Some(kind) = kind else {
            self.current = None;
            return;
        };
        let restart = match self.current {
            Some((current, _)) => current != kind || kind.restarted_by(served, moved),
            None => true,
        };
        if restart {
            let at = match (kind, due) {
                (TimerKind::Handler, Some(due)) => due,
                _ => now + kind.duration(config),
            };
            self.current = Some((kind, at));
        }
        if let (Some(close_by), Some((kind, at))) = (self.close_by, self.current) {
            self.current = Some((kind, at.min(close_by)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trickled_head_keeps_its_deadline_and_a_served_request_restarts_it() {
        let config = ConnConfig::default();
        let t0 = Instant::now();
        let mut deadline = Deadline::new(&config, t0);
        deadline.note_moved();
        deadline.update(Some(TimerKind::Header), None, &config, t0);
        let header_at = deadline.at();
        deadline.note_moved();
        deadline.update(Some(TimerKind::Header), None, &config, t0 + Duration::from_secs(1));
        assert_eq!(deadline.at(), header_at, "bytes alone do not extend a head's deadline");
        deadline.note_served();
        deadline.update(Some(TimerKind::Idle), None, &config, t0 + Duration::from_secs(2));
        assert_eq!(deadline.at(), Some(t0 + Duration::from_secs(2) + config.idle_timeout));
    }

    #[test]
    fn nothing_extends_past_the_grace_after_a_timeout() {
        let config = ConnConfig::default();
        let t0 = Instant::now();
        let mut deadline = Deadline::new(&config, t0);
        deadline.close_within_grace(t0);
        deadline.note_moved();
        deadline.update(Some(TimerKind::Write), None, &config, t0);
        assert_eq!(deadline.at(), Some(t0 + TIMED_OUT_GRACE));
        assert_eq!(deadline.expired(t0 + TIMED_OUT_GRACE), Some(TimerKind::Write));
    }
}
