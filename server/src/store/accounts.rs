//! Users, their login sessions and their API tokens.

use flowgate_core::api::{Account, Role};

use super::{BeginWrite as _, Store, is_unique_violation, with_pool};

/// The accounts area of the store.
#[derive(Debug, Clone, Copy)]
pub struct Accounts<'a>(pub(super) &'a Store);

/// An account as stored, but for its password.
#[derive(Debug, Clone, sqlx::FromRow)]
struct AccountRow {
    id: i64,
    username: String,
    role: String,
    is_active: bool,
    created_at: String,
}

impl AccountRow {
    fn into_api(self) -> Result<Account, sqlx::Error> {
        Ok(Account {
            role: role(self.id, &self.role)?,
            id: self.id,
            username: self.username,
            is_active: self.is_active,
            created_at: self.created_at,
        })
    }
}

/// Who a session or token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's id.
    pub user_id: i64,
    /// Their name.
    pub username: String,
    /// Their role.
    pub role: Role,
    /// The token's id, for a token.
    pub token_id: Option<i64>,
}

/// An API token as its owner sees it (never its value).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// When it was made.
    pub created_at: String,
}

const ACCOUNT_COLUMNS: &str = "id, username, role, is_active, created_at";

fn role(id: i64, name: &str) -> Result<Role, sqlx::Error> {
    Role::parse(name)
        .ok_or_else(|| sqlx::Error::Decode(format!("user {id} has role {name:?}").into()))
}

impl Accounts<'_> {
    /// How many users there are.
    pub async fn count(&self) -> Result<i64, sqlx::Error> {
        with_pool!(self.0, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await)
    }

    /// Creates an active user; `None` when the name is taken.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        created_at: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        let inserted: Result<i64, sqlx::Error> = with_pool!(self.0, pool => {
            sqlx::query_scalar(
                "INSERT INTO users (username, password_hash, role, is_active, created_at)
                 VALUES ($1, $2, $3, TRUE, $4) RETURNING id",
            )
            .bind(username)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(created_at)
            .fetch_one(pool)
            .await
        });
        match inserted {
            Ok(id) => Ok(Some(id)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// An active user's id, password hash and role, by name.
    pub async fn for_login(
        &self,
        username: &str,
    ) -> Result<Option<(i64, String, Role)>, sqlx::Error> {
        let row: Option<(i64, String, String)> = with_pool!(self.0, pool => {
            sqlx::query_as("SELECT id, password_hash, role FROM users WHERE username = $1 AND is_active")
                .bind(username)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(id, hash, name)| Ok((id, hash, role(id, &name)?)))
            .transpose()
    }

    /// A user's password hash.
    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await
        })
    }

    /// A user's name and whether they are active.
    pub async fn standing(&self, user_id: i64) -> Result<(String, bool), sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query_as("SELECT username, is_active FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await
        })
    }

    /// Every account, active or not.
    pub async fn list(&self) -> Result<Vec<Account>, sqlx::Error> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users ORDER BY id");
        let rows: Vec<AccountRow> =
            with_pool!(self.0, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(AccountRow::into_api).collect()
    }

    /// Changes a user's role and standing; deactivating ends their sessions. `None` for no
    /// such user.
    pub async fn update(
        &self,
        id: i64,
        role: Option<Role>,
        is_active: Option<bool>,
    ) -> Result<Option<Account>, sqlx::Error> {
        let sql = format!(
            "UPDATE users SET role = COALESCE($1, role), is_active = COALESCE($2, is_active)
             WHERE id = $3 RETURNING {ACCOUNT_COLUMNS}"
        );
        with_pool!(self.0, pool => {
            let mut tx = pool.begin_write().await?;
            let account: Option<AccountRow> = sqlx::query_as(&sql)
                .bind(role.map(Role::as_str))
                .bind(is_active)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if account.is_some() && is_active == Some(false) {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            account.map(AccountRow::into_api).transpose()
        })
    }

    /// Sets a user's password hash and ends their sessions but `keep` (the one making the
    /// change, if it is a session).
    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<(), sqlx::Error> {
        let keep = keep.map_or(&[][..], |k| &k[..]);
        with_pool!(self.0, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(user_id)
                .bind(keep)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
    }

    /// Stores a session (by its cookie's hash) lasting until `expires_at` (Unix seconds).
    pub async fn create_session(
        &self,
        id_hash: &[u8; 32],
        user_id: i64,
        created_at: &str,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&id_hash[..])
            .bind(user_id)
            .bind(created_at)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(drop)
        })
    }

    /// Ends a session and forgets the platform context it owned.
    pub async fn end_session(
        &self,
        id_hash: &[u8; 32],
        context_owner: &str,
    ) -> Result<(), sqlx::Error> {
        with_pool!(self.0, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(&id_hash[..])
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM contexts WHERE owner = $1")
                .bind(context_owner)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
    }

    /// The active user of a session current at `now` (Unix seconds).
    pub async fn session_user(
        &self,
        id_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<Principal>, sqlx::Error> {
        let row: Option<(i64, String, String)> = with_pool!(self.0, pool => {
            sqlx::query_as(
                "SELECT u.id, u.username, u.role FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.is_active",
            )
            .bind(&id_hash[..])
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        row.map(|(user_id, username, name)| {
            Ok(Principal {
                user_id,
                role: role(user_id, &name)?,
                username,
                token_id: None,
            })
        })
        .transpose()
    }

    /// The active user of a token.
    pub async fn token_user(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<Principal>, sqlx::Error> {
        let row: Option<(i64, i64, String, String)> = with_pool!(self.0, pool => {
            sqlx::query_as(
                "SELECT t.id, u.id, u.username, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = $1 AND u.is_active",
            )
            .bind(&token_hash[..])
            .fetch_optional(pool)
            .await?
        });
        row.map(|(token_id, user_id, username, name)| {
            Ok(Principal {
                user_id,
                role: role(user_id, &name)?,
                username,
                token_id: Some(token_id),
            })
        })
        .transpose()
    }

    /// Stores a token (by its hash); returns its id.
    pub async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &[u8; 32],
        created_at: &str,
    ) -> Result<i64, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query_scalar(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(user_id)
            .bind(name)
            .bind(&token_hash[..])
            .bind(created_at)
            .fetch_one(pool)
            .await
        })
    }

    /// A user's tokens.
    pub async fn tokens(&self, user_id: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query_as("SELECT id, name, created_at FROM api_tokens WHERE user_id = $1 ORDER BY id")
                .bind(user_id)
                .fetch_all(pool)
                .await
        })
    }

    /// Deletes one of a user's tokens; whether it existed.
    pub async fn delete_token(&self, id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected() > 0)
        })
    }
}
