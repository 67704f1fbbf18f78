//! Login and logout, the signed-in user, accounts and API tokens.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flowgate_core::api::{
    Account, AccountChange, Credential, Login, Me, NewToken, NewUser, PasswordChange, Role, Token,
};
use flowgate_core::ratelimit::Request as LimitRequest;

use super::ClientAddr;
use crate::auth::{self, AuthUser, SESSION_COOKIE, Via};
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::fanout::Notice;
use crate::openapi::Errors;
use crate::state::AppState;
use crate::store;
use flowgate_tower::headers::secs_ceil;

fn me(u: &AuthUser) -> Me {
    Me {
        id: u.id,
        username: u.username.to_string(),
        role: u.role,
        via: match u.via {
            Via::Session(_) => Credential::Session,
            Via::Token { .. } => Credential::Token,
        },
    }
}

/// Counts one attempt at a password (`what`: `login`, `password`) against the login limit of
/// `key` (a client address, or `user:<name>`); refuses it with 429 when the limit is spent.
fn spend_login_attempt(state: &AppState, key: &str, what: &str) -> Result<(), ApiError> {
    let decision = state
        .login_limiter
        .is_allowed(key, &LimitRequest::default(), state.now())?;
    if decision.allowed {
        return Ok(());
    }
    // Retry-After only: the RateLimit fields would tell a guesser its budget (the draft's
    // security considerations).
    let wait = secs_ceil(decision.retry_after);
    Err(ApiError::too_many(
        format!("too many {what} attempts; retry in {wait} s"),
        wait,
    ))
}

/// `POST /api/v1/auth/login`: checks the password and sets the session cookie. A wrong username
/// and a wrong password get the same answer, in the same time; attempts are rate-limited per
/// client address.
#[utoipa::path(post, path = "/auth/login", operation_id = "login", tag = "accounts", security(()), request_body = Login,
    responses((status = 200, body = Me, description = "Signed in: the session cookie is set"), Errors))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    previous: Option<axum::Extension<auth::Verified>>,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response, ApiError> {
    // A login form on another site must not sign the browser in (login CSRF).
    if headers.contains_key(header::ORIGIN)
        && !auth::same_origin(&headers, state.config.public_origin.as_deref())
    {
        return Err(ApiError::Forbidden(
            "log in from the console's own origin".into(),
        ));
    }
    spend_login_attempt(&state, &addr, "login")?;
    // Per account too: guesses at one account from many addresses (a botnet, or addresses
    // rotated behind a trusted proxy) count together. Names are compared as stored, lowercased
    // so that case does not make new budgets.
    spend_login_attempt(
        &state,
        &format!("user:{}", body.username.to_lowercase()),
        "login",
    )?;
    // No username holds U+0000 (names are checked when made), and a text database refuses it.
    let found = if body.username.contains('\0') {
        None
    } else {
        state.store.accounts().for_login(&body.username).await?
    };
    let (hash, found) = match found {
        Some((id, hash, role)) => (Some(hash), Some((id, role))),
        None => (None, None),
    };
    let ok = auth::verify_password(&state.password_work, body.password, hash).await?;
    let (Some((id, role)), true) = (found, ok) else {
        tracing::info!(client = %addr, "failed login");
        return Err(ApiError::Unauthorized("invalid username or password"));
    };
    // A new session replaces the one the browser held, if any: a session id planted before the
    // login (session fixation) is worth nothing after it.
    if let Some(axum::Extension(auth::Verified(old))) = previous
        && let Via::Session(hash) = old.via
    {
        state
            .store
            .accounts()
            .end_session(&hash, &old.context_owner())
            .await?;
        state.auth_cache.forget_session(&hash);
        state.fanout.notify(Notice::Session(hash)).await;
    }
    let secret = auth::new_secret();
    let ttl = state.config.session_ttl;
    let expires_at =
        jiff::Timestamp::now().as_second() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    state
        .store
        .accounts()
        .create_session(
            &auth::digest(&secret),
            id,
            &store::now_rfc3339(),
            expires_at,
        )
        .await?;
    tracing::info!(user = %body.username, "logged in");
    let secure = state
        .config
        .public_origin
        .as_deref()
        .is_some_and(|o| o.starts_with("https://"));
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        ttl.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    let me = Me {
        id,
        username: body.username,
        role,
        via: Credential::Session,
    };
    let mut response = Json(me).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.into()))?,
    );
    Ok(response)
}

/// `POST /api/v1/auth/logout`: ends the session (a token client has nothing to end).
#[utoipa::path(post, path = "/auth/logout", operation_id = "logout", tag = "accounts",
    responses((status = 204, description = "Signed out: the session cookie is cleared"), Errors))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    if let Via::Session(hash) = user.via {
        state
            .store
            .accounts()
            .end_session(&hash, &user.context_owner())
            .await?;
        state.auth_cache.forget_session(&hash);
        state.fanout.notify(Notice::Session(hash)).await;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("flowgate_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(response)
}

/// `GET /api/v1/auth/me`: who is calling.
#[utoipa::path(get, path = "/auth/me", operation_id = "get_me", tag = "accounts", responses((status = 200, body = Me, description = "The caller"), Errors))]
pub(crate) async fn whoami(user: AuthUser) -> Json<Me> {
    Json(me(&user))
}

/// The shortest password accepted.
const MIN_PASSWORD: usize = 8;

/// A new password: long enough to resist guessing, short enough to hash quickly.
fn check_password(pointer: &str, password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(ApiError::field(
            pointer,
            format!("must be at least {MIN_PASSWORD} characters"),
        ));
    }
    if password.len() > 1024 {
        return Err(ApiError::field(pointer, "must be at most 1024 bytes"));
    }
    Ok(())
}

/// `POST /api/v1/users` (admin): creates an account.
#[utoipa::path(post, path = "/users", operation_id = "create_user", tag = "accounts", request_body = NewUser,
    responses((status = 201, body = Account, description = "The new account"), Errors))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    user.require_admin()?;
    flowgate_core::check_name("/username", &body.username, 64)?;
    if !body
        .username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(ApiError::field(
            "/username",
            "may hold only letters, digits, '_', '-' and '.'",
        ));
    }
    check_password("/password", &body.password)?;
    let hash = auth::hash_password(&state.password_work, body.password).await?;
    let created_at = store::now_rfc3339();
    let created = state
        .store
        .accounts()
        .create_user(&body.username, &hash, body.role, &created_at)
        .await?;
    let Some(id) = created else {
        return Err(ApiError::Conflict(format!(
            "the username {:?} is taken",
            body.username
        )));
    };
    tracing::info!(by = %user.username, username = %body.username, role = body.role.as_str(), "created user");
    Ok((
        StatusCode::CREATED,
        Json(Account {
            id,
            username: body.username,
            role: body.role,
            is_active: true,
            created_at,
        }),
    ))
}

/// `GET /api/v1/users` (admin): every account, active or not.
#[utoipa::path(get, path = "/users", operation_id = "list_users", tag = "accounts",
    responses((status = 200, body = Vec<Account>, description = "Every account"), Errors))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Account>>, ApiError> {
    user.require_admin()?;
    Ok(Json(state.store.accounts().list().await?))
}

/// `PATCH /api/v1/users/{id}` (admin): changes an account's role, or whether it may sign in.
/// Deactivating ends the account's sessions at once and stops its tokens until it is active
/// again. No admin may demote or deactivate themselves, so an active admin always remains.
#[utoipa::path(patch, path = "/users/{id}", operation_id = "update_user", tag = "accounts", request_body = AccountChange,
    params(("id" = i64, Path, description = "The user's id")),
    responses((status = 200, body = Account, description = "The account as changed"), Errors))]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AccountChange>,
) -> Result<Json<Account>, ApiError> {
    user.require_admin()?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound("no such user"))?;
    if id == user.id && (body.is_active == Some(false) || body.role == Some(Role::User)) {
        return Err(ApiError::Conflict(
            "you cannot deactivate yourself or give up your own admin role; another admin can"
                .into(),
        ));
    }
    let account = state
        .store
        .accounts()
        .update(id, body.role, body.is_active)
        .await?
        .ok_or(ApiError::NotFound("no such user"))?;
    // Cached sign-ins carry the old role and standing.
    state.auth_cache.forget_user(id);
    state.fanout.notify(Notice::User(id)).await;
    tracing::info!(by = %user.username, username = %account.username, role = account.role.as_str(),
        active = account.is_active, "changed user");
    Ok(Json(account))
}

/// `POST /api/v1/auth/password`: changes the caller's own password, given the current one.
/// Every other session of the caller ends (the one making the change stays signed in); API
/// tokens stay valid. Attempts count against the client address's login limit, so the current
/// password is no quicker to guess here than at login.
#[utoipa::path(post, path = "/auth/password", operation_id = "change_password", tag = "accounts", request_body = PasswordChange,
    responses((status = 204, description = "Changed"), Errors))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    user: AuthUser,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    spend_login_attempt(&state, &addr, "password")?;
    check_password("/new_password", &body.new_password)?;
    let hash = state.store.accounts().password_hash(user.id).await?;
    if !auth::verify_password(&state.password_work, body.current_password, hash).await? {
        tracing::info!(user = %user.username, "failed password change");
        return Err(ApiError::field(
            "/current_password",
            "is not your current password",
        ));
    }
    let hash = auth::hash_password(&state.password_work, body.new_password).await?;
    let keep = match &user.via {
        Via::Session(hash) => Some(hash),
        Via::Token { .. } => None,
    };
    state
        .store
        .accounts()
        .set_password(user.id, &hash, keep)
        .await?;
    state.auth_cache.forget_user(user.id);
    state.fanout.notify(Notice::User(user.id)).await;
    tracing::info!(user = %user.username, "changed password");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/tokens`: a new API token for the caller, shown this once (and kept by no
/// cache: `Cache-Control: no-store`).
#[utoipa::path(post, path = "/tokens", operation_id = "create_token", tag = "accounts", request_body = NewToken,
    responses((status = 201, body = Token, description = "The token, in `token` this once"), Errors))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<impl IntoResponse, ApiError> {
    flowgate_core::check_name("/name", &body.name, 100)?;
    let token = format!("fg_{}", auth::new_secret());
    let created_at = store::now_rfc3339();
    let id = state
        .store
        .accounts()
        .create_token(user.id, &body.name, &auth::digest(&token), &created_at)
        .await?;
    tracing::info!(user = %user.username, token_id = id, "created API token");
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(Token {
            id,
            name: body.name,
            created_at,
            token: Some(token),
        }),
    ))
}

/// `GET /api/v1/tokens`: the caller's tokens, without their values.
#[utoipa::path(get, path = "/tokens", operation_id = "list_tokens", tag = "accounts",
    responses((status = 200, body = Vec<Token>, description = "The caller's tokens, without their values"), Errors))]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Token>>, ApiError> {
    let tokens = state.store.accounts().tokens(user.id).await?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|t| Token {
                id: t.id,
                name: t.name,
                created_at: t.created_at,
                token: None,
            })
            .collect(),
    ))
}

/// `DELETE /api/v1/tokens/{id}`: revokes one of the caller's tokens at once.
#[utoipa::path(delete, path = "/tokens/{id}", operation_id = "delete_token", tag = "accounts",
    params(("id" = i64, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked"), Errors))]
pub(crate) async fn delete_token(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such token"))?;
    if !state.store.accounts().delete_token(id, user.id).await? {
        return Err(ApiError::NotFound("no such token"));
    }
    state.auth_cache.forget_user(user.id);
    state.fanout.notify(Notice::User(user.id)).await;
    Ok(StatusCode::NO_CONTENT)
}
