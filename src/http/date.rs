//! The cached `Date` header value.
//!
//! RFC 9110 §6.6.1 wants a `Date` on every response, but its resolution is one second, so
//! formatting it per request would waste time on a string that changes once a second. Each
//! worker owns one [`CachedDate`] and calls [`CachedDate::tick`] once per loop iteration with
//! the loop's clock: the wall clock is read only when the second it showed has run out, and the
//! value reformatted only when that second has changed. Responses copy the 29 bytes.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// The current `Date` header value, formatted once per second.
#[derive(Debug, Clone)]
pub struct CachedDate {
    /// The formatted value (always exactly [`DATE_LEN`] ASCII bytes).
    bytes: [u8; DATE_LEN],
    /// The Unix second that `bytes` shows.
    second: u64,
    /// On the loop's clock, when that second is over (none: unknown, read the wall clock).
    second_ends: Option<Instant>,
}

impl CachedDate {
    /// A cache already holding the current time.
    pub fn new() -> Self {
        Self::at(SystemTime::now())
    }

    /// A cache holding `time` (until the next refresh): fixed bytes, for comparing whole responses.
    pub fn at(time: SystemTime) -> Self {
        let mut date = CachedDate { bytes: [b' '; DATE_LEN], second: u64::MAX, second_ends: None };
        date.refresh(time);
        date
    }

    /// For a loop that has just read its clock (`now`): once the cached second is over, reads
    /// the wall clock and refreshes. A busy loop then reads one clock per iteration, not two.
    pub fn tick(&mut self, now: Instant) {
        if self.second_ends.is_some_and(|ends| now < ends) {
            return;
        }
        let wall = SystemTime::now();
        self.refresh(wall);
        // `now` was read before `wall`, so this is at or before the second's true end: at
        // worst the wall clock is read once more and shows the same second.
        let into_second = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        self.second_ends = Some(now + Duration::from_secs(1) - Duration::from_nanos(into_second.into()));
    }

    /// Reformats the value if `now` falls in a different second than the cached one.
    /// Returns whether it changed.
    pub fn refresh(&mut self, now: SystemTime) -> bool {
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second == self.second {
            return false;
        }
        let formatted = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(second));
        // httpdate always yields an IMF-fixdate, which is 29 bytes for years 1000..=9999.
        if formatted.len() == DATE_LEN {
            self.bytes.copy_from_slice(formatted.as_bytes());
            self.second = second;
        }
        true
    }

    /// The header value, e.g. `Tue, 24 Nov 2026 01:25:31 GMT`.
    #[inline]
    pub fn as_bytes(&self) -> &[u8; DATE_LEN] {
        &self.bytes
    }
}

impl Default for CachedDate {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_an_imf_fixdate() {
        let date = CachedDate::at(UNIX_EPOCH + Duration::from_secs(784111777));
        assert_eq!(date.as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn refreshes_only_when_the_second_changes() {
        let mut date = CachedDate::new();
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(date.refresh(t));
        assert!(!date.refresh(t + Duration::from_millis(999)));
        assert!(date.refresh(t + Duration::from_secs(1)));
    }

    #[test]
    fn ticks_read_the_wall_clock_about_once_a_second() {
        let mut date = CachedDate::new();
        let start = Instant::now();
        date.tick(start);
        let ends = date.second_ends.expect("a tick learns when the second ends");
        assert!(ends > start && ends <= start + Duration::from_secs(1));
        date.tick(ends - Duration::from_nanos(1));
        assert_eq!(date.second_ends, Some(ends), "no wall-clock read inside the second");
        date.tick(ends);
        assert!(date.second_ends.is_some_and(|next| next > ends), "read again once it is over");
    }
}
