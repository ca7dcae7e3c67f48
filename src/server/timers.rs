//! Connection deadlines for one worker: a min-heap of `(deadline, connection key)`.
//!
//! Each connection keeps its own current deadline (see `Conn::deadline`) and at most one live
//! entry here, its earliest ("armed"). Pushing on every request would fill the heap at request
//! rate; instead, when an armed entry comes due and the connection's deadline has moved later,
//! it is pushed again with the new time. So the heap holds about one entry per connection, the
//! poll timeout is the heap's minimum, and no wakeup scans all connections.
//!
//! Entries go stale when their connection closes (or re-arms earlier) and are skipped when they
//! come due. Under connection churn (a new connection per request) they would pile up at the
//! connection rate times the timeout — 200,000 entries at 20,000 connections/s with the 10 s
//! header timeout — so once stale entries outnumber live ones the heap is rebuilt without them
//! ([`Timers::compact_if_mostly_stale`]): O(n) work after at least n/2 closes, O(1) amortised.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Entries tolerated beyond twice the live ones before a rebuild, so small servers never bother.
const STALE_SLACK: usize = 1024;

/// Pending deadlines, earliest first.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl Timers {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes sure a deadline at `at` is pending for `key`, given the entry already armed for
    /// it (if any). Returns the armed time to store with the connection.
    pub fn arm(&mut self, key: usize, at: Instant, armed: Option<Instant>) -> Instant {
        match armed {
            Some(earlier) if earlier <= at => earlier,
            _ => {
                self.heap.push(Reverse((at, key)));
                at
            }
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize)> {
        let Reverse((at, key)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        Some((at, key))
    }

    /// Time from `now` until the earliest entry, if any.
    pub fn next_in(&self, now: Instant) -> Option<Duration> {
        self.heap.peek().map(|Reverse((at, _))| at.saturating_duration_since(now))
    }

    /// Drops the entries `is_live(at, key)` rejects, if the heap holds more than twice `live`
    /// entries (plus some slack), and gives back memory the heap no longer needs.
    pub fn compact_if_mostly_stale(&mut self, live: usize, mut is_live: impl FnMut(Instant, usize) -> bool) {
        if self.heap.len() <= 2 * live + STALE_SLACK {
            return;
        }
        self.heap.retain(|Reverse((at, key))| is_live(*at, *key));
        if self.heap.capacity() > 4 * (self.heap.len() + STALE_SLACK) {
            self.heap.shrink_to(2 * (self.heap.len() + STALE_SLACK));
        }
    }

    /// Number of entries, live or stale.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no entries are pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arming_later_keeps_the_earlier_entry() {
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let armed = timers.arm(7, t0 + Duration::from_secs(10), None);
        let armed = timers.arm(7, t0 + Duration::from_secs(60), Some(armed));
        assert_eq!(armed, t0 + Duration::from_secs(10));
        assert_eq!(timers.len(), 1);
        let armed = timers.arm(7, t0 + Duration::from_secs(5), Some(armed));
        assert_eq!(armed, t0 + Duration::from_secs(5));
        assert_eq!(timers.len(), 2);
    }

    #[test]
    fn pops_only_due_entries_in_order() {
        let mut timers = Timers::new();
        let t0 = Instant::now();
        timers.arm(1, t0 + Duration::from_secs(2), None);
        timers.arm(2, t0 + Duration::from_secs(1), None);
        assert_eq!(timers.next_in(t0), Some(Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None);
        assert_eq!(timers.pop_due(t0 + Duration::from_secs(3)), Some((t0 + Duration::from_secs(1), 2)));
        assert_eq!(timers.pop_due(t0 + Duration::from_secs(3)), Some((t0 + Duration::from_secs(2), 1)));
        assert!(timers.is_empty());
    }

    #[test]
    fn stale_entries_are_dropped_once_they_outnumber_live_ones() {
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let at = |key: usize| t0 + Duration::from_millis(key as u64);
        // 10 live connections (keys 0..10) among 5,000 that came and went.
        for key in 0..5_000 {
            timers.arm(key, at(key), None);
        }
        timers.compact_if_mostly_stale(10, |_, key| key < 10);
        assert_eq!(timers.len(), 10);
        assert!(timers.heap.capacity() <= 2 * (10 + STALE_SLACK));
        assert_eq!(timers.pop_due(at(3)), Some((at(0), 0)));
        // Below the threshold nothing is touched, live or not.
        for key in 100..200 {
            timers.arm(key, at(key), None);
        }
        timers.compact_if_mostly_stale(0, |_, _| false);
        assert_eq!(timers.len(), 109);
    }
}
