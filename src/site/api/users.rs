//! `/api`'s users and tokens: registering, logging in (with the login limiter), logging out.

use std::net::IpAddr;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Api, Services, answer, on_blocking, rfc3339, store_error, with_caller};
use crate::app::extract::Json;
use crate::app::middleware::Principal;
use crate::app::{Completer, Context, HttpError, Reply, Request, Response};
use crate::http::status::StatusCode;
use crate::site::auth;
use crate::store::{self, Failures, NewUser, StoreError, TokenRow};

/// A new account.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewAccount {
    #[schemars(length(min = 3, max = 32), regex(pattern = r"^[A-Za-z0-9_.-]+$"))]
    username: String,
    #[schemars(length(min = 8, max = 128))]
    password: String,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct User {
    id: i64,
    username: String,
    #[schemars(extend("format" = "date-time"))]
    created_at: String,
}

pub(super) fn create_user(
    _: &Request<'_>,
    context: &mut Context<'_, Api>,
    Json(account): Json<NewAccount>,
) -> Result<Reply, HttpError> {
    let services = context.state();
    let NewAccount { username, password } = account;
    let (deferred, completer) = context.defer()?;
    let store = Arc::clone(&services.store);
    on_blocking(services, completer, move |completer| {
        let password_hash = match auth::hash_password(&password) {
            Ok(hash) => hash,
            Err(error) => return completer.complete(error),
        };
        let user = NewUser { username, password_hash, created_at: auth::unix_now() };
        store.create_user(
            user,
            answer(completer, |user: Option<store::User>| match user {
                Some(user) => Ok(Response::json(
                    StatusCode::CREATED,
                    &User { id: user.id, username: user.username, created_at: rfc3339(user.created_at) },
                )),
                None => Err(HttpError::new(StatusCode::CONFLICT, "username already taken")),
            }),
        );
    });
    Ok(deferred.into())
}

/// A login.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct Credentials {
    username: String,
    password: String,
}

/// A bearer token and when it expires.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Token {
    token: String,
    #[schemars(extend("format" = "date-time"))]
    expires_at: String,
}

pub(super) fn login(
    request: &Request<'_>,
    context: &mut Context<'_, Api>,
    Json(Credentials { username, password }): Json<Credentials>,
) -> Result<Reply, HttpError> {
    let services = context.state();
    let address = client_address(request, services.trust_forwarded_for);
    let attempt = Attempt { username, address, now: auth::unix_now() };
    let (lookup, address, since) = (attempt.username.clone(), attempt.address.clone(), attempt.since());
    let (deferred, completer) = context.defer()?;
    let for_job = Arc::clone(services);
    let found = move |result: Result<(Option<store::Credentials>, Failures), StoreError>| match result {
        Err(error) => completer.complete(store_error(error)),
        Ok((_, failures)) if failures.count >= for_job.max_failed_logins => {
            // Counted in the database, so every instance's failures add up.
            let window = window_secs();
            let retry_after = failures.oldest.map_or(window, |oldest| oldest + window - attempt.now);
            completer.complete(auth::too_many_logins(retry_after.clamp(1, window) as u64));
        }
        Ok((user, _)) => {
            let services = Arc::clone(&for_job);
            on_blocking(&for_job, completer, move |completer| {
                check_password(&services, user, attempt, &password, completer);
            });
        }
    };
    services.store.credentials(lookup, address, since, Box::new(found));
    Ok(deferred.into())
}

/// The client's address as the login limiter counts it: the peer's, or, behind a trusted
/// balancer (`--trust-forwarded-for`), the last address in `X-Forwarded-For` (the one the
/// balancer appended; a client can forge only the ones before it).
fn client_address(request: &Request<'_>, trust_forwarded_for: bool) -> String {
    let forwarded = trust_forwarded_for
        .then(|| request.headers().filter(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for")).last())
        .flatten()
        .and_then(|(_, value)| std::str::from_utf8(value).ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok());
    let peer = request.peer().map_or(IpAddr::from([0, 0, 0, 0]), |peer| peer.ip());
    forwarded.unwrap_or(peer).to_string()
}

/// Who is logging in, from where, when.
#[derive(Debug)]
struct Attempt {
    username: String,
    /// The client's address, as the login limiter counts it.
    address: String,
    /// Unix seconds.
    now: i64,
}

impl Attempt {
    /// Where the limiter's window starts: failures up to here no longer count.
    fn since(&self) -> i64 {
        self.now - window_secs()
    }
}

/// The CPU-heavy half of a login (on the hashing threads): check the password (unknown users
/// against a dummy hash, so both failures take as long); then record the failure, or store a new
/// token.
fn check_password(
    services: &Arc<Services>,
    user: Option<store::Credentials>,
    attempt: Attempt,
    password: &str,
    completer: Completer,
) {
    let phc = user.as_ref().map_or(services.dummy_hash.as_str(), |user| user.password_hash.as_str());
    let valid = auth::verify_password(password, phc);
    let Some(user) = user.filter(|_| valid) else {
        // The 401 goes out once the failure is recorded, so the next attempt, on any instance,
        // counts it.
        let since = attempt.since();
        let refuse = |()| Err(HttpError::new(StatusCode::UNAUTHORIZED, "invalid username or password"));
        return services.store.record_failed_login(
            attempt.address,
            attempt.now,
            since,
            answer(completer, refuse),
        );
    };
    let token = match auth::new_token() {
        Ok(token) => token,
        Err(error) => return completer.complete(error),
    };
    let expires_at = attempt.now + i64::try_from(services.token_lifetime.as_secs()).unwrap_or(i64::MAX);
    let row = TokenRow {
        hash: auth::token_hash(&token),
        user_id: user.user_id,
        username: attempt.username,
        expires_at,
    };
    let tokens = Arc::clone(&services.tokens);
    let stored = row.clone();
    let respond = move |()| {
        let principal = Principal { user_id: stored.user_id, username: stored.username.into() };
        tokens.insert(stored.hash, principal, stored.expires_at);
        Ok(Response::json(StatusCode::OK, &Token { token, expires_at: rfc3339(expires_at) }))
    };
    services.store.insert_token(row, attempt.address, answer(completer, respond));
}

/// The login limiter's window, in seconds.
fn window_secs() -> i64 {
    auth::LOGIN_WINDOW.as_secs() as i64
}

pub(super) fn logout(request: &Request<'_>, context: &mut Context<'_, Api>) -> Result<Reply, HttpError> {
    let services = context.state();
    let token = auth::bearer(request).ok_or_else(|| auth::unauthorized(auth::AuthError::Missing))?;
    let hash = auth::token_hash(token);
    let store = Arc::clone(&services.store);
    let tokens = Arc::clone(&services.tokens);
    with_caller(request, context, move |_, completer| {
        let respond = move |()| {
            tokens.revoke(&hash);
            Ok(Response::no_content())
        };
        store.revoke_token(hash, answer(completer, respond));
    })
}
