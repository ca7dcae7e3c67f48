//! Method + path pattern → route: a trie of path segments with `{name}` parameters and a
//! trailing `{*name}` wildcard.
//!
//! Each node finds its static children in a hash map, so a lookup costs one step per path
//! segment whatever the number of routes; no regex runs per request. Static segments win over
//! parameters, parameters over wildcards, with backtracking (`/items/new/edit` can still reach
//! `/items/{id}/edit`). Conflicting routes are errors when the route is added.

use std::borrow::Cow;
use std::fmt;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::http::request::Method;

/// Path parameters of one match: `(name, decoded value)`, inline for up to two (most routes).
pub type Params<'a> = SmallVec<[(&'a str, Cow<'a, str>); 2]>;

/// Why a route could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The pattern is malformed (must start with `/`; `{name}` segments; `{*name}` last).
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The route overlaps one added before.
    Conflict {
        /// The new route.
        pattern: String,
        /// The existing route it conflicts with.
        existing: String,
    },
    /// A method that cannot be routed (HEAD follows GET, OPTIONS is answered automatically).
    UnroutableMethod(String),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::InvalidPattern { pattern, reason } => {
                write!(f, "invalid route {pattern:?}: {reason}")
            }
            RouteError::Conflict { pattern, existing } => {
                write!(f, "route {pattern:?} conflicts with {existing:?}")
            }
            RouteError::UnroutableMethod(m) => write!(f, "{m} cannot be routed explicitly"),
        }
    }
}

impl std::error::Error for RouteError {}

/// The handlers registered for one path pattern.
#[derive(Debug)]
pub struct Endpoint<T> {
    /// Its place among the router's endpoints, in the order they were first added.
    id: usize,
    pattern: String,
    methods: SmallVec<[(Method, T); 4]>,
    /// The `Allow` header value: registered methods, HEAD with GET, and OPTIONS.
    allow: String,
}

impl<T> Endpoint<T> {
    /// The handler for `method`; HEAD falls back to GET.
    pub fn get(&self, method: Method) -> Option<&T> {
        let find = |m: Method| self.methods.iter().find(|(have, _)| *have == m).map(|(_, t)| t);
        find(method).or_else(|| if method == Method::Head { find(Method::Get) } else { None })
    }

    /// The methods registered, with their values, in the order they were added.
    pub fn methods(&self) -> impl Iterator<Item = (Method, &T)> {
        self.methods.iter().map(|(method, value)| (*method, value))
    }

    /// The value for an `Allow` header.
    pub fn allow(&self) -> &str {
        &self.allow
    }

    /// The pattern this endpoint was registered with.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Its place among the router's endpoints ([`Router::patterns`] order).
    pub fn id(&self) -> usize {
        self.id
    }

    fn update_allow(&mut self) {
        const ORDER: [(Method, &str); 7] = [
            (Method::Get, "GET"),
            (Method::Head, "HEAD"),
            (Method::Post, "POST"),
            (Method::Put, "PUT"),
            (Method::Patch, "PATCH"),
            (Method::Delete, "DELETE"),
            (Method::Options, "OPTIONS"),
        ];
        let has = |m: Method| m == Method::Options || self.get(m).is_some();
        let names: Vec<&str> = ORDER.iter().filter(|(m, _)| has(*m)).map(|(_, name)| *name).collect();
        self.allow = names.join(", ");
    }
}

#[derive(Debug, Default)]
struct Node {
    statics: FxHashMap<Box<str>, Node>,
    param: Option<(Box<str>, Box<Node>)>,
    wildcard: Option<(Box<str>, usize)>,
    endpoint: Option<usize>,
}

/// A set of routes.
#[derive(Debug)]
pub struct Router<T> {
    root: Node,
    endpoints: Vec<Endpoint<T>>,
    /// The routes without parameters, by their whole path (`/a/b`, `/`), grouped by the path's
    /// length: a path without escapes is compared with the few of its length, before it is
    /// split and decoded. Cheaper than hashing it (no hash, no probe), and an app has a
    /// handful of fixed paths of any one length.
    exact: Vec<Vec<(Box<[u8]>, usize)>>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router { root: Node::default(), endpoints: Vec::new(), exact: Vec::new() }
    }
}

enum Segment<'p> {
    Static(&'p str),
    Param(&'p str),
    Wildcard(&'p str),
}

fn parse_pattern(pattern: &str) -> Result<Vec<Segment<'_>>, RouteError> {
    let invalid = |reason| RouteError::InvalidPattern { pattern: pattern.to_owned(), reason };
    let Some(rest) = pattern.strip_prefix('/') else { return Err(invalid("must start with '/'")) };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if name.starts_with('*') => {
                if i + 1 != parts.len() {
                    return Err(invalid("a {*wildcard} must be the last segment"));
                }
                Segment::Wildcard(&name[1..])
            }
            Some(name) => Segment::Param(name),
            None if part.contains(['{', '}']) => return Err(invalid("braces must enclose a whole segment")),
            None => Segment::Static(part),
        };
        if let Segment::Param(name) | Segment::Wildcard(name) = segment
            && (name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(invalid("parameter names are letters, digits and '_'"));
        }
        segments.push(segment);
    }
    Ok(segments)
}

impl<T> Router<T> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` for `method` on `pattern`.
    pub fn insert(&mut self, method: Method, pattern: &str, value: T) -> Result<(), RouteError> {
        if matches!(method, Method::Head | Method::Options | Method::Other) {
            return Err(RouteError::UnroutableMethod(format!("{method:?}").to_uppercase()));
        }
        let segments = parse_pattern(pattern)?;
        let conflict = |existing: &str| RouteError::Conflict {
            pattern: pattern.to_owned(),
            existing: existing.to_owned(),
        };
        let mut node = &mut self.root;
        let mut wildcard_name = None;
        for segment in &segments {
            node = match *segment {
                Segment::Static(s) => node.statics.entry(s.into()).or_default(),
                Segment::Param(name) => {
                    let (existing, child) = node.param.get_or_insert_with(|| (name.into(), Box::default()));
                    if &**existing != name {
                        return Err(conflict(&format!("{{{existing}}} at the same position")));
                    }
                    child
                }
                Segment::Wildcard(name) => {
                    wildcard_name = Some(name);
                    break;
                }
            };
        }
        let slot = match wildcard_name {
            Some(name) => match &node.wildcard {
                Some((existing, id)) if &**existing != name => {
                    return Err(conflict(&self.endpoints[*id].pattern));
                }
                Some((_, id)) => Some(*id),
                None => None,
            },
            None => node.endpoint,
        };
        let id = match slot {
            Some(id) => id,
            None => {
                self.endpoints.push(Endpoint {
                    id: self.endpoints.len(),
                    pattern: pattern.to_owned(),
                    methods: SmallVec::new(),
                    allow: String::new(),
                });
                let id = self.endpoints.len() - 1;
                match wildcard_name {
                    Some(name) => node.wildcard = Some((name.into(), id)),
                    None => node.endpoint = Some(id),
                }
                // A `%` in a route's path is literal, while a request path's `%` starts an
                // escape: such routes are found by their decoded segments only.
                if let Some(path) = static_path(&segments).filter(|path| !path.contains('%')) {
                    if self.exact.len() <= path.len() {
                        self.exact.resize_with(path.len() + 1, Vec::new);
                    }
                    self.exact[path.len()].push((path.as_bytes().into(), id));
                }
                id
            }
        };
        let endpoint = &mut self.endpoints[id];
        if endpoint.methods.iter().any(|(m, _)| *m == method) {
            return Err(conflict(&endpoint.pattern));
        }
        endpoint.methods.push((method, value));
        endpoint.update_allow();
        Ok(())
    }

    /// Every endpoint, in the order they were first added (their ids).
    pub fn endpoints(&self) -> &[Endpoint<T>] {
        &self.endpoints
    }

    /// Every endpoint's pattern, in the order they were first added (their ids).
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.endpoints.iter().map(|e| e.pattern.as_str())
    }

    /// The endpoint of a route without parameters (nor `%`) whose path is exactly `path`. When
    /// found, this is what [`Router::find`] gives for the path's segments (static segments win
    /// over parameters, and the path has no escapes), by comparing it with the few fixed paths
    /// of its length. The path is bytes, as the request line keeps it: no UTF-8 check to route.
    pub fn find_exact(&self, path: impl AsRef<[u8]>) -> Option<&Endpoint<T>> {
        let path = path.as_ref();
        let same_length = self.exact.get(path.len())?;
        same_length.iter().find(|(known, _)| same_bytes(known, path)).map(|&(_, id)| &self.endpoints[id])
    }

    /// The endpoint whose pattern matches the decoded path `segments`, and the parameters.
    pub fn find<'a>(&'a self, segments: &[Cow<'a, str>]) -> Option<(&'a Endpoint<T>, Params<'a>)> {
        let mut params = Params::new();
        let id = find_in(&self.root, segments, &mut params)?;
        Some((&self.endpoints[id], params))
    }
}

/// The names of a pattern's `{name}` and `{*name}` segments, in order (none for a pattern the
/// router would refuse).
pub fn parameter_names(pattern: &str) -> Vec<&str> {
    let segments = parse_pattern(pattern).unwrap_or_default();
    segments
        .into_iter()
        .filter_map(|segment| match segment {
            Segment::Param(name) | Segment::Wildcard(name) => Some(name),
            Segment::Static(_) => None,
        })
        .collect()
}

/// `/a/b` for a pattern of static segments only (`/` for none); `None` if it has parameters.
fn static_path(segments: &[Segment<'_>]) -> Option<String> {
    let mut path = String::new();
    for segment in segments {
        match segment {
            Segment::Static(s) => {
                path.push('/');
                path.push_str(s);
            }
            Segment::Param(_) | Segment::Wildcard(_) => return None,
        }
    }
    Some(if path.is_empty() { "/".to_owned() } else { path })
}

/// `a == b`, for the short paths of routes without a `memcmp` call: 4 to 16 bytes are compared
/// as two overlapping words each (a slice compare was a tenth of routing a request).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    fn words<const N: usize>(a: &[u8], b: &[u8]) -> bool {
        let word = |s: &[u8], at: usize| <[u8; N]>::try_from(&s[at..at + N]).ok();
        let last = a.len() - N;
        word(a, 0) == word(b, 0) && word(a, last) == word(b, last)
    }
    match (a.len(), b.len()) {
        (n, m) if n != m => false,
        (4..=8, _) => words::<4>(a, b),
        (9..=16, _) => words::<8>(a, b),
        _ => a == b,
    }
}

fn find_in<'a>(node: &'a Node, segments: &[Cow<'a, str>], params: &mut Params<'a>) -> Option<usize> {
    let Some((first, rest)) = segments.split_first() else {
        return node.endpoint;
    };
    if let Some(child) = node.statics.get(first.as_ref())
        && let Some(id) = find_in(child, rest, params)
    {
        return Some(id);
    }
    if let Some((name, child)) = &node.param
        && !first.is_empty()
    {
        params.push((name, first.clone()));
        if let Some(id) = find_in(child, rest, params) {
            return Some(id);
        }
        params.pop();
    }
    let (name, id) = node.wildcard.as_ref()?;
    let joined = if segments.len() == 1 { first.clone() } else { Cow::Owned(segments.join("/")) };
    params.push((name, joined));
    Some(*id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_is_slice_equality() {
        let base = b"/abcdefghijklmnopqrst";
        for len in 0..base.len() {
            let a = &base[..len];
            assert!(same_bytes(a, a));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!same_bytes(a, &b), "{len} bytes, differing at {at}");
            }
            assert!(!same_bytes(a, &base[..len + 1]));
        }
    }

    fn segments(path: &str) -> Vec<Cow<'_, str>> {
        path.strip_prefix('/').unwrap().split('/').filter(|_| path != "/").map(Cow::Borrowed).collect()
    }

    fn lookup<'a>(
        router: &'a Router<&'static str>,
        method: Method,
        path: &'a str,
    ) -> Option<(&'static str, Vec<(String, String)>)> {
        let segs = segments(path);
        let (endpoint, params) = router.find(&segs)?;
        let value = *endpoint.get(method)?;
        Some((value, params.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()))
    }

    #[test]
    fn an_exact_lookup_agrees_with_the_segment_walk() {
        let r = router();
        for path in
            ["/", "/items", "/items/new", "/items/5", "/items/5/edit", "/files/a/b", "/nope", "/items/"]
        {
            let walked =
                r.find(&segments(path)).filter(|(_, params)| params.is_empty()).map(|(e, _)| &e.pattern);
            let exact = r.find_exact(path).map(|e| &e.pattern);
            match exact {
                // Only routes without parameters are in the exact table, and they match the same.
                Some(pattern) => assert_eq!(Some(pattern), walked, "{path}"),
                None => assert!(walked.is_none(), "{path}"),
            }
        }
        assert_eq!(r.find_exact("/items/new").map(|e| e.pattern.as_str()), Some("/items/new"), "static wins");
        assert!(r.find_exact("/items/5").is_none(), "a parameter is found by the walk");
        assert_eq!(r.find_exact("/").map(|e| e.pattern.as_str()), Some("/"));
    }

    #[test]
    fn a_route_with_a_percent_is_found_by_its_decoded_segments_only() {
        let mut r = Router::new();
        r.insert(Method::Get, "/100%", "literal").unwrap();
        r.insert(Method::Get, "/plain", "plain").unwrap();
        // A request's `%` starts an escape: `/100%25` decodes to the segment `100%`.
        assert!(r.find_exact("/100%").is_none() && r.find_exact("/100%25").is_none());
        assert_eq!(lookup(&r, Method::Get, "/100%").map(|(v, _)| v), Some("literal"));
        assert!(r.find_exact("/plain").is_some());
    }

    fn router() -> Router<&'static str> {
        let mut r = Router::new();
        r.insert(Method::Get, "/", "root").unwrap();
        r.insert(Method::Get, "/items", "list").unwrap();
        r.insert(Method::Post, "/items", "create").unwrap();
        r.insert(Method::Get, "/items/new", "new-form").unwrap();
        r.insert(Method::Get, "/items/{id}", "show").unwrap();
        r.insert(Method::Delete, "/items/{id}", "delete").unwrap();
        r.insert(Method::Get, "/items/{id}/edit", "edit").unwrap();
        r.insert(Method::Get, "/files/{*path}", "file").unwrap();
        r
    }

    #[test]
    fn static_segments_win_over_parameters() {
        let r = router();
        assert_eq!(lookup(&r, Method::Get, "/items/new").unwrap().0, "new-form");
        assert_eq!(lookup(&r, Method::Get, "/items/42"), Some(("show", vec![("id".into(), "42".into())])));
    }

    #[test]
    fn backtracks_from_a_static_dead_end_to_a_parameter() {
        let r = router();
        assert_eq!(
            lookup(&r, Method::Get, "/items/new/edit"),
            Some(("edit", vec![("id".into(), "new".into())]))
        );
    }

    #[test]
    fn wildcard_takes_the_rest() {
        let r = router();
        assert_eq!(
            lookup(&r, Method::Get, "/files/a/b/c.txt"),
            Some(("file", vec![("path".into(), "a/b/c.txt".into())]))
        );
    }

    #[test]
    fn methods_head_and_allow() {
        let r = router();
        assert_eq!(lookup(&r, Method::Head, "/items").unwrap().0, "list");
        assert_eq!(lookup(&r, Method::Put, "/items"), None);
        let segs = segments("/items/7");
        assert_eq!(r.find(&segs).unwrap().0.allow(), "GET, HEAD, DELETE, OPTIONS");
        let segs = segments("/items");
        assert_eq!(r.find(&segs).unwrap().0.allow(), "GET, HEAD, POST, OPTIONS");
    }

    #[test]
    fn unknown_paths_and_empty_parameters_do_not_match() {
        let r = router();
        assert!(r.find(&segments("/nope")).is_none());
        assert!(r.find(&segments("/items/")).is_none());
        assert!(r.find(&segments("/items/1/2")).is_none());
    }

    #[test]
    fn conflicts_and_bad_patterns_are_reported() {
        let mut r = router();
        assert!(matches!(r.insert(Method::Get, "/items/{id}", "again"), Err(RouteError::Conflict { .. })));
        assert!(matches!(r.insert(Method::Get, "/items/{name}/x", "x"), Err(RouteError::Conflict { .. })));
        assert!(matches!(r.insert(Method::Get, "/files/{*other}", "x"), Err(RouteError::Conflict { .. })));
        assert!(matches!(r.insert(Method::Get, "nope", "x"), Err(RouteError::InvalidPattern { .. })));
        assert!(matches!(r.insert(Method::Get, "/a/{*rest}/b", "x"), Err(RouteError::InvalidPattern { .. })));
        assert!(matches!(r.insert(Method::Get, "/a/b{c}", "x"), Err(RouteError::InvalidPattern { .. })));
        assert!(matches!(r.insert(Method::Head, "/h", "x"), Err(RouteError::UnroutableMethod(_))));
        r.insert(Method::Put, "/items/{id}", "update").unwrap();
    }
}
