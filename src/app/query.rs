//! Percent-decoding of path segments and query strings, strict about invalid encodings.
//!
//! `percent-encoding` and `form_urlencoded` pass malformed escapes (`%zz`) through and replace
//! invalid UTF-8; a server should instead say 400, so each input is validated first.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use smallvec::SmallVec;

use super::response::HttpError;

/// Whether every `%` starts a two-hex-digit escape.
fn escapes_are_valid(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Decodes one path segment; borrowed when it holds no escape.
pub fn decode_segment(segment: &str) -> Result<Cow<'_, str>, HttpError> {
    if !segment.contains('%') {
        return Ok(Cow::Borrowed(segment));
    }
    if !escapes_are_valid(segment) {
        return Err(HttpError::bad_request("invalid percent-encoding in path"));
    }
    percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| HttpError::bad_request("path is not UTF-8 after percent-decoding"))
}

/// Splits an origin-form path into decoded segments (`/a/b%20c` → `["a", "b c"]`; `/` → `[]`).
/// Splitting happens before decoding, so an encoded `%2F` stays inside its segment.
pub fn decode_path(path: &str) -> Result<SmallVec<[Cow<'_, str>; 4]>, HttpError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(HttpError::not_found("not found"));
    };
    let mut segments = SmallVec::new();
    if rest.is_empty() {
        return Ok(segments);
    }
    // One scan for escapes and a byte loop for the slashes: `str::split('/')` and a `contains`
    // per segment cost more than the routing itself on the hot path. A '/' is ASCII, so every
    // cut falls on a character boundary.
    let escaped = rest.as_bytes().contains(&b'%');
    let decode = |segment| if escaped { decode_segment(segment) } else { Ok(Cow::Borrowed(segment)) };
    let mut start = 0;
    for (i, &byte) in rest.as_bytes().iter().enumerate() {
        if byte == b'/' {
            segments.push(decode(&rest[start..i])?);
            start = i + 1;
        }
    }
    segments.push(decode(&rest[start..])?);
    Ok(segments)
}

/// A decoded query string: `key=value` pairs in order, repeated keys kept.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    /// Parses `application/x-www-form-urlencoded` (`+` is a space); 400 on a bad escape or on
    /// bytes that are not UTF-8 once decoded.
    pub fn parse(raw: &'a str) -> Result<Query<'a>, HttpError> {
        if !escapes_are_valid(raw) {
            return Err(HttpError::bad_request("invalid percent-encoding in query"));
        }
        if raw.contains('%')
            && std::str::from_utf8(&percent_encoding::percent_decode(raw.as_bytes()).collect::<Vec<u8>>())
                .is_err()
        {
            return Err(HttpError::bad_request("query is not UTF-8 after percent-decoding"));
        }
        Ok(Query { pairs: form_urlencoded::parse(raw.as_bytes()).collect() })
    }

    /// The first value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_ref())
    }

    /// Every value for `key`, in order.
    pub fn get_all<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_ref())
    }

    /// All pairs in order.
    pub fn pairs(&self) -> &[(Cow<'a, str>, Cow<'a, str>)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_paths_segment_by_segment() {
        let segs = decode_path("/hello/J%C3%BCrgen/a%2Fb").unwrap();
        assert_eq!(segs.as_slice(), ["hello", "Jürgen", "a/b"]);
        assert!(decode_path("/").unwrap().is_empty());
        assert!(matches!(decode_path("/plain").unwrap()[0], Cow::Borrowed(_)));
    }

    #[test]
    fn rejects_invalid_path_encodings() {
        for bad in ["/a%zz", "/a%2", "/a%", "/%ff%fe"] {
            assert_eq!(decode_path(bad).unwrap_err().status.code(), 400, "{bad}");
        }
    }

    #[test]
    fn parses_queries_keeping_repeated_keys() {
        let q = Query::parse("a=1&b=x+y&a=2&c=%E2%9C%93&empty=&flag").unwrap();
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get_all("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(q.get("b"), Some("x y"));
        assert_eq!(q.get("c"), Some("✓"));
        assert_eq!(q.get("empty"), Some(""));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("missing"), None);
    }

    #[test]
    fn rejects_invalid_query_encodings() {
        for bad in ["a=%zz", "a=%", "a=%ff", "%c3=1"] {
            assert_eq!(Query::parse(bad).unwrap_err().status.code(), 400, "{bad}");
        }
    }
}
