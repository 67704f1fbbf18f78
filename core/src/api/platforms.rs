//! Platform connections, the platform context and posts.

use alloc::string::String;

use crate::context::{PlatformConnection, PlatformContext, PlatformInfo, PlatformType};

/// A platform connection as the API shows it: never its access token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Connection {
    /// Its id.
    pub id: i64,
    /// Its owner's name for it.
    pub name: String,
    /// Which platform.
    pub platform_type: PlatformType,
    /// The instance, normalised (`https://host`).
    pub instance_url: String,
    /// The account on the instance.
    pub username: String,
    /// Whether it may be used.
    pub is_active: bool,
    /// Whether it is its owner's default.
    pub is_default: bool,
    /// When it was added (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

impl Connection {
    /// The connection as the core's context rules take it, owned by `user_id` (the API does
    /// not show the owner: it is always the caller).
    #[must_use]
    pub fn to_context(&self, user_id: i64) -> PlatformConnection {
        PlatformConnection {
            id: self.id,
            user_id,
            name: self.name.clone(),
            platform_type: self.platform_type,
            instance_url: self.instance_url.clone(),
            username: self.username.clone(),
            is_active: self.is_active,
            is_default: self.is_default,
        }
    }
}

/// `POST /api/v1/platforms`: a new connection. Its access token is stored encrypted and never
/// shown again.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    /// Its name (unique among the owner's).
    pub name: String,
    /// Which platform.
    pub platform_type: PlatformType,
    /// The instance (`mastodon.social` or `https://mastodon.social`).
    pub instance_url: String,
    /// The account on the instance.
    pub username: String,
    /// The platform's access token.
    pub access_token: String,
    /// Whether it may be used (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Whether it becomes the default (default: only if the owner has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

/// `PATCH /api/v1/platforms/{id}`: what is left out stays.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConnectionChange {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_url: Option<String>,
    /// A new account name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A new access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Active or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Default or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

/// `GET`/`PUT /api/v1/context`: the platform context of this session or token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Context {
    /// The user.
    pub user_id: i64,
    /// The chosen connection, if any.
    pub platform_connection_id: Option<i64>,
    /// Whether the user and the connection are both active.
    pub is_valid: bool,
    /// What an operation may know of the connection.
    pub platform_info: Option<PlatformInfo>,
}

impl From<&PlatformContext> for Context {
    fn from(c: &PlatformContext) -> Self {
        Context {
            user_id: c.user_id,
            platform_connection_id: c.platform_connection_id,
            is_valid: c.is_valid(),
            platform_info: c.platform_info(),
        }
    }
}

/// `PUT /api/v1/context`: which connection (none: the user's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContextChoice {
    /// The connection.
    #[serde(default)]
    pub platform_connection_id: Option<i64>,
}

/// `POST /api/v1/posts`: a post, recorded by a connection of the caller's, or by platform and
/// instance, or else by the current context's connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// Its id on the platform.
    pub post_id: String,
    /// Its URL (at most 2,000 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its text (at most 20,000 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// How many images it has (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_count: Option<u32>,
    /// The connection it was seen through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_connection_id: Option<i64>,
    /// Its platform (with `instance_url`, instead of a connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_type: Option<PlatformType>,
    /// Its instance (with `platform_type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_url: Option<String>,
}

/// A recorded post.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Post {
    /// Its id here.
    pub id: i64,
    /// Its id on the platform.
    pub post_id: String,
    /// Its URL.
    pub url: Option<String>,
    /// Its text.
    pub content: Option<String>,
    /// How many images it has.
    pub image_count: i64,
    /// The connection it was recorded by.
    pub platform_connection_id: Option<i64>,
    /// Its platform.
    pub platform_type: Option<PlatformType>,
    /// Its instance.
    pub instance_url: Option<String>,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
}
