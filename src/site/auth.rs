//! Users, passwords and bearer tokens.
//!
//! Passwords are hashed with Argon2id (default parameters) on a pool of threads, never on a loop
//! thread. A login creates a random 256-bit token; the client gets the token, the database keeps
//! only its SHA-256. Tokens are also held in memory ([`TokenCache`]), so the [`Auth`] middleware
//! checks `Authorization: Bearer …` on the loop without touching the database; the cache is
//! filled at start-up and changed only after the database has committed (login, logout).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::middleware::{Exchange, Middleware, Principal};
use crate::app::request::Request;
use crate::app::response::{HeaderValue, HttpError, Response};
use crate::http::status::StatusCode;

/// How long a token stays valid after login, unless `--token-lifetime` says otherwise.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Default number of failed logins allowed per client address per window before 429.
pub const MAX_FAILED_LOGINS: u32 = 5;

/// The window failed logins are counted in.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);

pub use crate::store::unix_now;

/// Hashes a password with Argon2id and a random salt, as a PHC string. CPU-heavy: pool only.
pub fn hash_password(password: &str) -> Result<String, HttpError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| HttpError::internal("password hashing failed"))
}

/// Checks a password against a PHC string (constant-time inside argon2). CPU-heavy: pool only.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A PHC string of a password nobody has, checked when a login names an unknown user, so that
/// failure takes as long as a wrong password. Built once at start-up: if hashing failed there
/// would be no defence, so the server does not start (an empty string would fail fast).
pub fn dummy_hash() -> Result<String, HttpError> {
    hash_password("no user has this password")
}

/// A new random 256-bit token, hex-encoded.
pub fn new_token() -> Result<String, HttpError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| HttpError::internal("no randomness available"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The SHA-256 of a token: what the database and the cache store.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug, Clone)]
struct CachedToken {
    hash: [u8; 32],
    principal: Principal,
    expires_at: i64,
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Unknown or revoked token.
    Invalid,
    /// The token expired.
    Expired,
}

/// Live tokens by hash, mirrored from the database.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<[u8; 32], CachedToken>>,
}

impl TokenCache {
    /// Adds the live tokens a store loaded at start-up.
    pub fn load(&self, rows: Vec<crate::store::TokenRow>) {
        for row in rows {
            self.insert(
                row.hash,
                Principal { user_id: row.user_id, username: row.username.into() },
                row.expires_at,
            );
        }
    }

    /// Adds a token (after its row committed).
    pub fn insert(&self, hash: [u8; 32], principal: Principal, expires_at: i64) {
        let token = CachedToken { hash, principal, expires_at };
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).insert(hash, token);
    }

    /// Removes a token (after its revocation committed).
    pub fn revoke(&self, hash: &[u8; 32]) {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).remove(hash);
    }

    /// Forgets every token (they are looked up again when next used).
    pub fn clear(&self) {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Who a bearer token belongs to.
    pub fn check(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        let hash = token_hash(token);
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let found = tokens.get(&hash).ok_or(AuthError::Invalid)?;
        // The map found it by hash; compare the stored secret digest in constant time anyway.
        if !bool::from(found.hash.ct_eq(&hash)) {
            return Err(AuthError::Invalid);
        }
        if found.expires_at <= now {
            return Err(AuthError::Expired);
        }
        Ok(found.principal.clone())
    }
}

/// The bearer token of a request, if it sent one.
pub fn bearer<'a>(request: &Request<'a>) -> Option<&'a str> {
    let value = std::str::from_utf8(request.header("authorization")?).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// 401 with `WWW-Authenticate: Bearer` (RFC 6750).
pub fn unauthorized(error: AuthError) -> HttpError {
    let (message, challenge) = match error {
        AuthError::Missing => ("authentication required", "Bearer"),
        AuthError::Invalid => ("invalid or revoked token", "Bearer error=\"invalid_token\""),
        AuthError::Expired => ("token expired", "Bearer error=\"invalid_token\""),
    };
    HttpError::new(StatusCode::UNAUTHORIZED, message)
        .with_header("WWW-Authenticate", HeaderValue::from_static(challenge))
}

/// Requires a valid bearer token, and records who called (a [`Principal`] in the request's
/// extensions). Add it to the scopes whose routes need it.
pub struct Auth {
    tokens: Arc<TokenCache>,
    /// Whether a token the cache does not know is passed on for the handler to look up (other
    /// instances on the same database issue tokens too) instead of refused here.
    lookup_misses: bool,
}

impl Auth {
    /// Authentication against the tokens in `tokens`.
    pub fn new(tokens: Arc<TokenCache>) -> Auth {
        Auth { tokens, lookup_misses: false }
    }

    /// Passes tokens the cache does not know on to the handler, with no principal, instead of
    /// refusing them: for a database shared by several instances, where the handler looks the
    /// token up. Missing and expired tokens are still refused here.
    pub fn looking_up_misses(mut self) -> Auth {
        self.lookup_misses = true;
        self
    }
}

/// A store tells the cache about revocations made by other instances.
impl crate::store::Changes for TokenCache {
    fn token_revoked(&self, hash: [u8; 32]) {
        self.revoke(&hash);
    }

    fn missed(&self) {
        self.clear();
    }
}

impl Middleware for Auth {
    fn before(&self, request: &Request<'_>, exchange: &mut Exchange) -> Option<Response> {
        let result = bearer(request).ok_or(AuthError::Missing).and_then(|t| self.tokens.check(t, unix_now()));
        match result {
            Ok(principal) => {
                exchange.extensions.insert(principal);
                None
            }
            Err(AuthError::Invalid) if self.lookup_misses => None,
            Err(error) => Some(unauthorized(error).into()),
        }
    }

    fn describe(&self, operation: &mut crate::app::openapi::Operation) {
        operation.secured();
    }
}

/// 429 with `Retry-After`.
pub fn too_many_logins(retry_after: u64) -> HttpError {
    let value = HeaderValue::try_from_bytes(retry_after.to_string().as_bytes())
        .unwrap_or(HeaderValue::from_static("60"));
    HttpError::new(StatusCode::TOO_MANY_REQUESTS, "too many failed logins").with_header("Retry-After", value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn the_dummy_hash_is_a_real_argon2_hash() {
        // An unknown user's login is checked against it: it must cost a full verification, so it
        // must parse as a PHC string with the same parameters as a real user's hash.
        let dummy = dummy_hash().unwrap();
        let real = hash_password("correct horse").unwrap();
        let parameters = |phc: &str| phc.rsplitn(3, '$').nth(2).unwrap_or_default().to_owned();
        assert_eq!(parameters(&dummy), parameters(&real));
        assert!(PasswordHash::new(&dummy).is_ok());
        assert!(!verify_password("correct horse", &dummy));
    }

    #[test]
    fn tokens_are_random_and_checked_by_hash() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let cache = TokenCache::default();
        let ann = Principal { user_id: 1, username: "ann".into() };
        cache.insert(token_hash(&a), ann, unix_now() + 60);
        assert_eq!(cache.check(&a, unix_now()).unwrap().user_id, 1);
        assert_eq!(cache.check(&b, unix_now()).unwrap_err(), AuthError::Invalid);
        assert_eq!(cache.check(&a, unix_now() + 61).unwrap_err(), AuthError::Expired);
        cache.revoke(&token_hash(&a));
        assert_eq!(cache.check(&a, unix_now()).unwrap_err(), AuthError::Invalid);
    }
}
