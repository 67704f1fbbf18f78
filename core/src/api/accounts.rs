//! Accounts, the signed-in user and API tokens.

use alloc::string::String;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May change limits and the retry policy, reset keys and create users.
    Admin,
    /// May use the service.
    User,
}

impl Role {
    /// The role's name in JSON and as stored.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    /// The role named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

/// How a caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Credential {
    /// The console's session cookie.
    Session,
    /// An API token (`Authorization: Bearer`).
    Token,
}

/// `POST /api/v1/auth/login`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The account's name.
    pub username: String,
    /// Its password.
    pub password: String,
}

/// `GET /api/v1/auth/me` (and the login's answer): the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// The user's id.
    pub id: i64,
    /// Their name.
    pub username: String,
    /// Their role.
    pub role: Role,
    /// How this request proved who they are.
    pub via: Credential,
}

impl Me {
    /// Whether the user may administer the server.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// `POST /api/v1/users` (admin).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Letters, digits and `._-`, at most 64 characters.
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    /// Their role.
    pub role: Role,
}

/// An account as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    /// The user's id.
    pub id: i64,
    /// Their name.
    pub username: String,
    /// Their role.
    pub role: Role,
    /// Whether they may sign in.
    pub is_active: bool,
    /// When the account was made (RFC 3339).
    pub created_at: String,
}

/// `PATCH /api/v1/users/{id}` (admin): what is left out stays.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    /// A new role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Whether they may sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// `POST /api/v1/auth/password`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new one: at least 8 characters.
    pub new_password: String,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for.
    pub name: String,
}

/// An API token as its owner sees it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Token {
    /// Its id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// The token itself: only in the answer that creates it, never again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}
