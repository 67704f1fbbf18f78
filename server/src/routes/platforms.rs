//! Platform connections (access tokens write-only, encrypted at rest), the platform context of
//! a session or token, and posts filtered by it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use flowgate_core::api::{
    Connection, ConnectionChange, Context, ContextChoice, NewConnection, NewPost, Post,
};
use flowgate_core::context::{self, PlatformConnection, PlatformContext, User};
use serde::Deserialize;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::openapi::Errors;
use crate::state::AppState;
use crate::store;
use crate::store::platforms::{
    ConnectionChange as StoredChange, ConnectionError, NewConnection as StoredConnection,
    NewPost as StoredPost,
};

fn check_token(token: &str) -> Result<(), ApiError> {
    Ok(flowgate_core::check_name("/access_token", token, 4096)?)
}

/// `GET /api/v1/platforms`: the caller's connections.
#[utoipa::path(get, path = "/platforms", operation_id = "list_platforms", tag = "platforms",
    responses((status = 200, body = Vec<Connection>, description = "The caller's connections"), Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Connection>>, ApiError> {
    Ok(Json(state.store.platforms().connections(user.id).await?))
}

async fn owned(state: &AppState, user: &AuthUser, id: i64) -> Result<Connection, ApiError> {
    state
        .store
        .platforms()
        .connection(id, user.id)
        .await?
        .ok_or(ApiError::NotFound("no such platform connection"))
}

fn instance_url(url: &str) -> Result<String, ApiError> {
    Ok(context::normalize_instance_url(url)?)
}

fn connection_error(e: ConnectionError, name: &str) -> ApiError {
    match e {
        ConnectionError::NameTaken => ApiError::Conflict(format!(
            "you already have a platform connection named {name:?}"
        )),
        ConnectionError::Database(e) => e.into(),
        ConnectionError::Sealing(e) => e.into(),
    }
}

/// `POST /api/v1/platforms`: adds a connection. The user's first one becomes the default.
#[utoipa::path(post, path = "/platforms", operation_id = "create_platform", tag = "platforms", request_body = NewConnection,
    responses((status = 201, body = Connection, description = "The new connection"), Errors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewConnection>,
) -> Result<(StatusCode, Json<Connection>), ApiError> {
    flowgate_core::check_name("/name", &body.name, 100)?;
    flowgate_core::check_name("/username", &body.username, 100)?;
    check_token(&body.access_token)?;
    let url = instance_url(&body.instance_url)?;
    let new = StoredConnection {
        name: &body.name,
        platform_type: body.platform_type.as_str(),
        instance_url: &url,
        username: &body.username,
        is_active: body.is_active.unwrap_or(true),
        is_default: body.is_default,
    };
    let row = state
        .store
        .platforms()
        .create_connection(user.id, &new, &store::now_rfc3339(), |id| {
            state
                .vault
                .seal_platform_token(&body.access_token, user.id, id)
        })
        .await
        .map_err(|e| connection_error(e, &body.name))?;
    let id = row.id;
    tracing::info!(user = %user.username, connection = id, "platform connection added");
    Ok((StatusCode::CREATED, Json(row)))
}

/// `PATCH /api/v1/platforms/{id}` (owner): changes the given fields.
#[utoipa::path(patch, path = "/platforms/{id}", operation_id = "update_platform", tag = "platforms", request_body = ConnectionChange,
    params(("id" = i64, Path, description = "The connection's id")),
    responses((status = 200, body = Connection, description = "The connection as changed"), Errors))]
pub(crate) async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ConnectionChange>,
) -> Result<Json<Connection>, ApiError> {
    let current = owned(&state, &user, id).await?;
    if let Some(name) = &body.name {
        flowgate_core::check_name("/name", name, 100)?;
    }
    if let Some(username) = &body.username {
        flowgate_core::check_name("/username", username, 100)?;
    }
    let url = body.instance_url.as_deref().map(instance_url).transpose()?;
    let sealed = match &body.access_token {
        Some(token) => {
            check_token(token)?;
            Some(state.vault.seal_platform_token(token, user.id, id)?)
        }
        None => None,
    };
    let change = StoredChange {
        name: body.name.as_deref(),
        instance_url: url.as_deref(),
        username: body.username.as_deref(),
        sealed_token: sealed.as_deref(),
        is_active: body.is_active,
        is_default: body.is_default,
    };
    let row = state
        .store
        .platforms()
        .update_connection(id, user.id, &change, &store::now_rfc3339())
        .await
        .map_err(|e| connection_error(e, body.name.as_deref().unwrap_or(&current.name)))?
        .ok_or(ApiError::NotFound("no such platform connection"))?;
    Ok(Json(row))
}

/// `DELETE /api/v1/platforms/{id}` (owner).
#[utoipa::path(delete, path = "/platforms/{id}", operation_id = "delete_platform", tag = "platforms",
    params(("id" = i64, Path, description = "The connection's id")),
    responses((status = 204, description = "Deleted"), Errors))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    if !state
        .store
        .platforms()
        .delete_connection(id, user.id)
        .await?
    {
        return Err(ApiError::NotFound("no such platform connection"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's user record and connections, as the core's context rules take them.
async fn user_and_connections(
    state: &AppState,
    user: &AuthUser,
) -> Result<(User, Vec<PlatformConnection>), ApiError> {
    let (username, is_active) = state.store.accounts().standing(user.id).await?;
    let rows = state.store.platforms().connections(user.id).await?;
    let connections = rows.iter().map(|r| r.to_context(user.id)).collect();
    Ok((
        User {
            id: user.id,
            username,
            is_active,
        },
        connections,
    ))
}

/// The caller's current context, if one is set.
async fn current_context(state: &AppState, user: &AuthUser) -> Result<PlatformContext, ApiError> {
    let owner = user.context_owner();
    let chosen = state.store.platforms().context(&owner, user.id).await?;
    let (record, connections) = user_and_connections(state, user).await?;
    let connection = chosen.and_then(|id| connections.into_iter().find(|c| c.id == id));
    Ok(PlatformContext {
        user_id: user.id,
        user: Some(record),
        platform_connection_id: connection.as_ref().map(|c| c.id),
        platform_connection: connection,
        session_id: Some(owner),
    })
}

/// `PUT /api/v1/context`: sets the context of this session (or token) by the core's rules.
#[utoipa::path(put, path = "/context", operation_id = "set_context", tag = "platforms", request_body = ContextChoice,
    responses((status = 200, body = Context, description = "The context"), Errors))]
pub(crate) async fn set_context(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<ContextChoice>,
) -> Result<Json<Context>, ApiError> {
    let (record, connections) = user_and_connections(&state, &user).await?;
    let owner = user.context_owner();
    let context = context::select_context(
        &record,
        &connections,
        body.platform_connection_id,
        Some(owner.clone()),
    )?;
    state
        .store
        .platforms()
        .set_context(
            &owner,
            user.id,
            context.platform_connection_id,
            &store::now_rfc3339(),
        )
        .await?;
    Ok(Json(Context::from(&context)))
}

/// `GET /api/v1/context`.
#[utoipa::path(get, path = "/context", operation_id = "get_context", tag = "platforms",
    responses((status = 200, body = Context, description = "The context"), Errors))]
pub(crate) async fn get_context(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Context>, ApiError> {
    Ok(Json(Context::from(&current_context(&state, &user).await?)))
}

/// `DELETE /api/v1/context`.
#[utoipa::path(delete, path = "/context", operation_id = "clear_context", tag = "platforms",
    responses((status = 204, description = "Cleared"), Errors))]
pub(crate) async fn clear_context(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .platforms()
        .clear_context(&user.context_owner())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/posts`: records a post for the caller, by a connection of theirs, or by
/// platform and instance, or else by the current context's connection.
#[utoipa::path(post, path = "/posts", operation_id = "create_post", tag = "platforms", request_body = NewPost,
    responses((status = 201, body = Post, description = "The post, recorded"), Errors))]
pub(crate) async fn create_post(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewPost>,
) -> Result<(StatusCode, Json<Post>), ApiError> {
    flowgate_core::check_name("/post_id", &body.post_id, 200)?;
    if body.url.as_ref().is_some_and(|u| u.len() > 2_000) {
        return Err(ApiError::field("/url", "must be at most 2000 bytes"));
    }
    if body.content.as_ref().is_some_and(|c| c.len() > 20_000) {
        return Err(ApiError::field("/content", "must be at most 20000 bytes"));
    }
    for (pointer, text) in [("/url", &body.url), ("/content", &body.content)] {
        if text.as_ref().is_some_and(|t| t.contains('\0')) {
            return Err(ApiError::field(pointer, "must not contain U+0000 (NUL)"));
        }
    }
    let url = body.instance_url.as_deref().map(instance_url).transpose()?;
    let (connection, platform_type, instance) = match (
        body.platform_connection_id,
        body.platform_type,
        url,
    ) {
        (Some(id), None, None) => {
            let c = owned(&state, &user, id).await?;
            (
                Some(c.id),
                Some(c.platform_type.as_str().to_string()),
                Some(c.instance_url),
            )
        }
        (None, Some(p), Some(u)) => (None, Some(p.as_str().to_string()), Some(u)),
        (None, None, None) => {
            let ctx = current_context(&state, &user).await?;
            let c = ctx.platform_connection.ok_or_else(|| {
                ApiError::field("", "give platform_connection_id, or platform_type with instance_url, or set a platform context first")
            })?;
            (
                Some(c.id),
                Some(c.platform_type.as_str().to_string()),
                Some(c.instance_url),
            )
        }
        _ => {
            return Err(ApiError::field(
                "",
                "give either platform_connection_id, or platform_type with instance_url",
            ));
        }
    };
    let post = StoredPost {
        post_id: &body.post_id,
        url: body.url.as_deref(),
        content: body.content.as_deref(),
        image_count: i64::from(body.image_count.unwrap_or(0)),
        platform_connection_id: connection,
        platform_type: platform_type.as_deref(),
        instance_url: instance.as_deref(),
    };
    let post = state
        .store
        .platforms()
        .create_post(user.id, &post, &store::now_rfc3339())
        .await?;
    Ok((StatusCode::CREATED, Json(post)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PostPage {
    /// How many, 1 to 200 (default 50).
    limit: Option<u32>,
    /// How many to skip (default 0).
    offset: Option<u32>,
}

/// `GET /api/v1/posts`: the caller's posts in the current context: those of its connection,
/// and those recorded by platform and instance that match the connection's.
#[utoipa::path(get, path = "/posts", operation_id = "list_posts", tag = "platforms", params(PostPage),
    responses((status = 200, body = Vec<Post>, description = "The posts the context admits, newest first"), Errors))]
pub(crate) async fn list_posts(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PostPage>,
) -> Result<Json<Vec<Post>>, ApiError> {
    let ctx = current_context(&state, &user).await?;
    let connection = match &ctx.platform_connection {
        Some(c) if ctx.is_valid() => c,
        Some(_) => {
            return Err(ApiError::Conflict(
                "the platform context's connection is not active".into(),
            ));
        }
        None => {
            return Err(ApiError::Conflict(
                "no platform context is set: PUT /api/v1/context first".into(),
            ));
        }
    };
    let posts = state
        .store
        .platforms()
        .posts(
            user.id,
            (
                connection.id,
                connection.platform_type.as_str(),
                &connection.instance_url,
            ),
            i64::from(page.limit.unwrap_or(50).clamp(1, 200)),
            i64::from(page.offset.unwrap_or(0)),
        )
        .await?;
    Ok(Json(posts))
}
