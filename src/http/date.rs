//! The cached `Date` header value.
//!
//! RFC 9110 §6.6.1 wants a `Date` on every response, but its resolution is one second, so
//! formatting it per request would waste time on a string that changes once a second. Each
//! worker owns one [`CachedDate`] and calls [`CachedDate::refresh`] once per loop iteration;
//! that costs one clock read, and the formatting happens only when the second has changed.
//! Responses copy the 29 bytes.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// The current `Date` header value, formatted once per second.
#[derive(Debug, Clone)]
pub struct CachedDate {
    /// The formatted value (always exactly [`DATE_LEN`] ASCII bytes).
    bytes: [u8; DATE_LEN],
    /// The Unix second that `bytes` shows.
    second: u64,
}

impl CachedDate {
    /// A cache already holding the current time.
    pub fn new() -> Self {
        Self::at(SystemTime::now())
    }

    /// A cache holding `time` (until the next refresh): fixed bytes, for comparing whole responses.
    pub fn at(time: SystemTime) -> Self {
        let mut date = CachedDate { bytes: [b' '; DATE_LEN], second: u64::MAX };
        date.refresh(time);
        date
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
}
