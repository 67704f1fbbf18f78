//! Who is calling: session cookies for the console, bearer tokens for workers, roles, and the
//! origin check that keeps other sites from acting with a user's cookie.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "flowgate_session";

/// How long a checked session or token is trusted before the database is asked again.
const CACHE_TTL: Duration = Duration::from_secs(30);

/// How long a session or token the database does not know is answered without asking it
/// again: a client sending made-up credentials costs one read per credential per this long.
const MISS_TTL: Duration = Duration::from_secs(5);

/// The most entries either map of the cache holds before it drops the expired ones; past it
/// again, it starts over (a flood of made-up credentials cannot grow it without bound).
const CACHE_CAP: usize = 100_000;

pub(crate) use flowgate_core::api::Role;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// A session cookie, known by its SHA-256.
    Session([u8; 32]),
    /// An API token.
    Token {
        /// The token's id.
        id: i64,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthUser {
    /// The user's id.
    pub id: i64,
    /// The user's name (shared: every request of a cached caller gets a copy of this value).
    pub username: Arc<str>,
    /// The user's role (a token carries its user's).
    pub role: Role,
    /// Session or token.
    pub via: Via,
}

impl AuthUser {
    /// What a platform context belongs to: the session, or for a bearer client its token.
    pub(crate) fn context_owner(&self) -> String {
        match self.via {
            Via::Session(hash) => format!("session:{}", hex::encode(hash)),
            Via::Token { id } => format!("token:{id}"),
        }
    }

    /// Refuses unless the caller is an admin.
    ///
    /// # Errors
    /// 403 for a plain user.
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden("this needs the admin role".into()))
        }
    }
}

/// A 256-bit random secret, base64url without padding (43 characters).
pub(crate) fn new_secret() -> String {
    // ThreadRng is a CSPRNG seeded from the operating system.
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a secret: how sessions and tokens are stored and looked up.
pub(crate) fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Password hashing's share of the machine. argon2 takes tens of milliseconds of a core by
/// design; run for every login at once, a burst of logins would take every worker's blocking
/// pool and starve everything else. So hashes run a few at a time (about one per core), a
/// bounded number wait their turn, and beyond that a login is answered 503 with `Retry-After`
/// at once, as PostgreSQL refuses connections past `max_connections` rather than queueing
/// without end.
#[derive(Debug)]
pub struct PasswordWork {
    permits: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    queue: usize,
}

impl PasswordWork {
    /// `workers` hashes at once, and at most `queue` more waiting.
    #[must_use]
    pub fn new(workers: usize, queue: usize) -> Self {
        PasswordWork {
            permits: tokio::sync::Semaphore::new(workers.max(1)),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            queue,
        }
    }

    /// Runs `work` on a blocking thread when a permit is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        use std::sync::atomic::Ordering;
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(ApiError::Busy(
                        "too many password checks at once; try again in a moment",
                    ));
                }
                let permit = self.permits.acquire().await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                permit.map_err(|_| ApiError::Busy("the server is stopping"))?
            }
        };
        let result = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::Internal(e.into()));
        drop(permit);
        result
    }
}

/// Hashes a password with argon2id (on a blocking thread, in turn: see [`PasswordWork`]).
///
/// # Errors
/// 503 when too many wait already; 500 only if argon2 itself fails.
pub(crate) async fn hash_password(
    work: &PasswordWork,
    password: String,
) -> Result<String, ApiError> {
    work.run(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("encoding a salt: {e}"))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
    .map_err(ApiError::Internal)
}

/// Whether `password` matches the stored `hash`; a missing user is checked against a dummy
/// hash so that the answer takes as long either way.
///
/// # Errors
/// 503 when too many checks wait already.
pub(crate) async fn verify_password(
    work: &PasswordWork,
    password: String,
    hash: Option<String>,
) -> Result<bool, ApiError> {
    work.run(move || {
        let stored = hash.as_deref().unwrap_or(DUMMY_HASH);
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && hash.is_some()
    })
    .await
}

/// An argon2id hash of a random password nobody knows, with the default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2mzS9XUEJr4/xBmgqJYGRuZbUIk5PAsmeIgf+0lNMvM";

/// The value of the session cookie, if the request carries one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// The bearer token, if the request has an `Authorization: Bearer` header.
///
/// # Errors
/// 401 for another scheme or an empty token.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not valid"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized(
            "only Bearer authorization is supported",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::Unauthorized("the bearer token is empty"));
    }
    Ok(Some(token))
}

/// Whether a cookie-authenticated change comes from the server's own pages: its `Origin` (else
/// `Referer`) must be `http://<Host>` or the configured public origin.
pub(crate) fn same_origin(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    let claimed = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => origin.to_string(),
        None => match headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(origin_of_url)
        {
            Some(origin) => origin,
            None => return false,
        },
    };
    let claimed = claimed.trim_end_matches('/');
    if public_origin.is_some_and(|p| p.eq_ignore_ascii_case(claimed)) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    host.is_some_and(|host| claimed.eq_ignore_ascii_case(&format!("http://{host}")))
}

/// `scheme://host[:port]` of a URL.
fn origin_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// Recently checked sessions and tokens, so that a busy worker's every request does not cost a
/// database read. Entries expire after 30 seconds (`CACHE_TTL`), and logout or deleting a token removes
/// theirs at once.
#[derive(Debug, Default)]
pub struct AuthCache {
    // A std lock: held for one map operation, never across an await.
    entries: RwLock<HashMap<Credential, (AuthUser, Instant)>>,
    /// Sessions and tokens the database did not know, and when it said so.
    misses: RwLock<HashMap<Credential, Instant>>,
}

/// A credential as the cache knows it: its kind and its hash. The kind is part of the key so
/// that a session's secret sent as a bearer token is not taken for one (it would skip the
/// origin check that sessions get).
type Credential = (Kind, [u8; 32]);

/// What a credential is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Token,
    Session,
}

impl AuthCache {
    fn missed(&self, credential: &Credential) -> bool {
        let misses = self.misses.read().unwrap_or_else(PoisonError::into_inner);
        misses
            .get(credential)
            .is_some_and(|at| at.elapsed() < MISS_TTL)
    }

    fn miss(&self, credential: Credential) {
        let mut misses = self.misses.write().unwrap_or_else(PoisonError::into_inner);
        if misses.len() >= CACHE_CAP {
            misses.retain(|_, at| at.elapsed() < MISS_TTL);
            if misses.len() >= CACHE_CAP {
                misses.clear();
            }
        }
        misses.insert(credential, Instant::now());
    }

    fn get(&self, credential: &Credential) -> Option<AuthUser> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(credential)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(user, _)| user.clone())
    }

    fn put(&self, credential: Credential, user: AuthUser) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() > CACHE_CAP {
            entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        entries.insert(credential, (user, Instant::now()));
    }

    /// Forgets one session (at logout).
    pub fn forget_session(&self, hash: &[u8; 32]) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(Kind::Session, *hash));
    }

    /// Forgets every entry (what changed while this server was not told is unknown).
    pub fn forget_all(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.forget_misses();
    }

    /// Forgets every entry of a user (after their tokens or account changed), and every
    /// credential found unknown: a deactivated user's tokens were, and may work again now.
    pub fn forget_user(&self, user_id: i64) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (u, _)| u.id != user_id);
        self.forget_misses();
    }

    fn forget_misses(&self) {
        self.misses
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The user behind a bearer token, if any.
async fn user_for_token(state: &AppState, hash: [u8; 32]) -> Result<Option<AuthUser>, ApiError> {
    let credential = (Kind::Token, hash);
    if let Some(user) = state.auth_cache.get(&credential) {
        return Ok(Some(user));
    }
    if state.auth_cache.missed(&credential) {
        return Ok(None);
    }
    let user = state
        .store
        .accounts()
        .token_user(&hash)
        .await?
        .map(|p| AuthUser {
            id: p.user_id,
            username: p.username.into(),
            role: p.role,
            via: Via::Token {
                id: p.token_id.unwrap_or_default(),
            },
        });
    match &user {
        Some(user) => state.auth_cache.put(credential, user.clone()),
        None => state.auth_cache.miss(credential),
    }
    Ok(user)
}

/// The user behind a session cookie, if the session is current.
async fn user_for_session(state: &AppState, hash: [u8; 32]) -> Result<Option<AuthUser>, ApiError> {
    let credential = (Kind::Session, hash);
    if let Some(user) = state.auth_cache.get(&credential) {
        return Ok(Some(user));
    }
    if state.auth_cache.missed(&credential) {
        return Ok(None);
    }
    let now = jiff::Timestamp::now().as_second();
    let user = state
        .store
        .accounts()
        .session_user(&hash, now)
        .await?
        .map(|p| AuthUser {
            id: p.user_id,
            username: p.username.into(),
            role: p.role,
            via: Via::Session(hash),
        });
    match &user {
        Some(user) => state.auth_cache.put(credential, user.clone()),
        None => state.auth_cache.miss(credential),
    }
    Ok(user)
}

/// The caller, when its credentials verified: put in a request's extensions by [`identify`]
/// before the API's limiter, which counts a verified caller by its user and anyone else by
/// address (so that made-up credentials buy no fresh budget).
#[derive(Debug, Clone)]
pub(crate) struct Verified(pub AuthUser);

/// Checks the request's bearer token or session cookie (through the cache, which remembers
/// unknown ones too) and records the user in its extensions when they verify. Never refuses:
/// what a missing or bad credential gets is each handler's answer.
pub(crate) async fn identify(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let headers = request.headers();
    let user = match bearer_token(headers) {
        Ok(Some(token)) => user_for_token(&state, digest(token)).await.ok().flatten(),
        Ok(None) => match session_cookie(headers) {
            Some(cookie) => user_for_session(&state, digest(cookie))
                .await
                .ok()
                .flatten(),
            None => None,
        },
        Err(_) => None,
    };
    if let Some(user) = user {
        request.extensions_mut().insert(Verified(user));
    }
    next.run(request).await
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = match parts.extensions.get::<Verified>() {
            // Checked already by `identify`, in front of the API's limiter.
            Some(Verified(user)) => user.clone(),
            None => lookup(state, &parts.headers).await?,
        };
        let changes_state = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if matches!(user.via, Via::Session(_))
            && changes_state
            && !same_origin(&parts.headers, state.config.public_origin.as_deref())
        {
            return Err(ApiError::Forbidden(
                "a change made with a session cookie must come from the console's own origin"
                    .into(),
            ));
        }
        Ok(user)
    }
}

/// The user of the request's credentials; a bearer token wins when both are sent (a worker's
/// identity is the one it chose).
async fn lookup(state: &AppState, headers: &HeaderMap) -> Result<AuthUser, ApiError> {
    if let Some(token) = bearer_token(headers)? {
        return user_for_token(state, digest(token))
            .await?
            .ok_or(ApiError::Unauthorized("the bearer token is not valid"));
    }
    if let Some(cookie) = session_cookie(headers) {
        return user_for_session(state, digest(cookie))
            .await?
            .ok_or(ApiError::Unauthorized(
                "the session has expired; log in again",
            ));
    }
    Err(ApiError::Unauthorized(
        "log in, or send Authorization: Bearer <token>",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn unknown_credentials_are_remembered_boundedly_and_forgotten_on_account_changes() {
        let cache = AuthCache::default();
        let hash = |i: usize| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            (Kind::Token, h)
        };
        cache.miss(hash(1));
        assert!(cache.missed(&hash(1)) && !cache.missed(&hash(2)));
        for i in 0..CACHE_CAP + 10 {
            cache.miss(hash(i));
        }
        assert!(cache.misses.read().unwrap().len() <= CACHE_CAP);
        cache.forget_user(7);
        assert!(!cache.missed(&hash(CACHE_CAP + 9)));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; flowgate_session=abc; b=2")]);
        assert_eq!(session_cookie(&h), Some("abc"));
        assert_eq!(
            session_cookie(&headers(&[("cookie", "flowgate_session=")])),
            None
        );
        assert_eq!(session_cookie(&headers(&[])), None);
    }

    #[test]
    fn bearer_tokens_and_other_schemes() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer xyz")])).unwrap(),
            Some("xyz")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "bearer  xyz ")])).unwrap(),
            Some("xyz")
        );
        assert!(bearer_token(&headers(&[("authorization", "Basic eHl6")])).is_err());
        assert!(bearer_token(&headers(&[("authorization", "Bearer")])).is_err());
        assert_eq!(bearer_token(&headers(&[])).unwrap(), None);
    }

    #[test]
    fn origin_must_be_the_servers_own_or_the_public_one() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(
            &headers(&[host, ("origin", "http://127.0.0.1:8080")]),
            None
        ));
        assert!(!same_origin(
            &headers(&[host, ("origin", "http://evil.example")]),
            None
        ));
        assert!(same_origin(
            &headers(&[host, ("referer", "http://127.0.0.1:8080/limits?x")]),
            None
        ));
        assert!(!same_origin(&headers(&[host]), None));
        let public = Some("https://flowgate.example");
        assert!(same_origin(
            &headers(&[host, ("origin", "https://flowgate.example")]),
            public
        ));
        assert!(!same_origin(
            &headers(&[host, ("origin", "https://other.example")]),
            public
        ));
    }

    #[test]
    fn secrets_are_256_bit_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_ne!(digest(&a), digest(&b));
    }

    #[test]
    fn the_dummy_hash_is_a_real_argon2_hash() {
        // Otherwise an unknown user would be answered faster than a wrong password.
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let work = PasswordWork::new(1, 0);
        let hash = hash_password(&work, "correct horse".into()).await.unwrap();
        let verify = |password: &str, hash| verify_password(&work, password.into(), hash);
        assert!(verify("correct horse", Some(hash.clone())).await.unwrap());
        assert!(!verify("wrong", Some(hash)).await.unwrap());
        assert!(!verify("anything", None).await.unwrap());
    }

    #[tokio::test]
    async fn password_checks_beyond_the_queue_are_refused_at_once() {
        // One at a time and one waiting: of four at once, two are refused with 503.
        let work = std::sync::Arc::new(PasswordWork::new(1, 1));
        let checks = (0..4).map(|_| {
            let work = std::sync::Arc::clone(&work);
            tokio::spawn(async move { verify_password(&work, "x".into(), None).await })
        });
        let mut busy = 0;
        for check in checks.collect::<Vec<_>>() {
            match check.await.unwrap() {
                Ok(ok) => assert!(!ok),
                Err(e) => {
                    assert_eq!(e.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
                    busy += 1;
                }
            }
        }
        assert_eq!(busy, 2);
        // Once they are done, the next is served.
        assert_eq!(
            verify_password(&work, "x".into(), None).await.ok(),
            Some(false)
        );
    }
}
