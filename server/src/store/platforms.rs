//! Platform connections (their access tokens sealed), the platform context of each session or
//! token, and posts.

use anyhow::Context as _;
use flowgate_core::api::{Connection, Post};
use flowgate_core::context::PlatformType;

use super::{BeginWrite as _, Store, is_unique_violation, with_pool};

/// The platforms area of the store.
#[derive(Debug, Clone, Copy)]
pub struct Platforms<'a>(pub(super) &'a Store);

/// A connection as stored, but for its token.
#[derive(Debug, Clone, sqlx::FromRow)]
struct ConnectionRow {
    /// Its id.
    id: i64,
    /// Its owner's name for it.
    name: String,
    /// `mastodon` or `pixelfed`.
    platform_type: String,
    /// The instance, normalised.
    instance_url: String,
    /// The account on the instance.
    username: String,
    /// Whether it may be used.
    is_active: bool,
    /// Whether it is its owner's default.
    is_default: bool,
    /// When it was added.
    created_at: String,
    /// When it last changed.
    updated_at: String,
}

/// A new connection.
#[derive(Debug)]
pub struct NewConnection<'a> {
    /// Its name.
    pub name: &'a str,
    /// `mastodon` or `pixelfed`.
    pub platform_type: &'a str,
    /// The instance, normalised.
    pub instance_url: &'a str,
    /// The account on the instance.
    pub username: &'a str,
    /// Whether it may be used.
    pub is_active: bool,
    /// Whether it becomes the default (`None`: only if the owner has none).
    pub is_default: Option<bool>,
}

/// A change to a connection: what is `None` stays.
#[derive(Debug, Default)]
pub struct ConnectionChange<'a> {
    /// A new name.
    pub name: Option<&'a str>,
    /// A new instance.
    pub instance_url: Option<&'a str>,
    /// A new account name.
    pub username: Option<&'a str>,
    /// A new sealed token.
    pub sealed_token: Option<&'a [u8]>,
    /// Active or not.
    pub is_active: Option<bool>,
    /// Default or not.
    pub is_default: Option<bool>,
}

/// A post as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
struct PostRow {
    /// Its id here.
    id: i64,
    /// Its id on the platform.
    post_id: String,
    /// Its URL.
    url: Option<String>,
    /// Its text.
    content: Option<String>,
    /// How many images it has.
    image_count: i64,
    /// The connection it was recorded by.
    platform_connection_id: Option<i64>,
    /// Its platform.
    platform_type: Option<String>,
    /// Its instance.
    instance_url: Option<String>,
    /// When it was recorded.
    created_at: String,
}

/// A new post, recorded for a connection or for a platform and instance.
#[derive(Debug)]
pub struct NewPost<'a> {
    /// Its id on the platform.
    pub post_id: &'a str,
    /// Its URL.
    pub url: Option<&'a str>,
    /// Its text.
    pub content: Option<&'a str>,
    /// How many images it has.
    pub image_count: i64,
    /// The connection, if recorded by one.
    pub platform_connection_id: Option<i64>,
    /// Its platform.
    pub platform_type: Option<&'a str>,
    /// Its instance.
    pub instance_url: Option<&'a str>,
}

/// What stopped a connection from being stored.
#[derive(Debug)]
pub enum ConnectionError {
    /// The owner has a connection of that name.
    NameTaken,
    /// The database failed.
    Database(sqlx::Error),
    /// The token could not be sealed.
    Sealing(anyhow::Error),
}

impl From<sqlx::Error> for ConnectionError {
    fn from(e: sqlx::Error) -> Self {
        if is_unique_violation(&e) {
            ConnectionError::NameTaken
        } else {
            ConnectionError::Database(e)
        }
    }
}

/// A stored platform name the core does not know: the database was changed by hand.
fn platform(name: &str) -> Result<PlatformType, sqlx::Error> {
    PlatformType::parse(name)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown platform {name:?}").into()))
}

impl ConnectionRow {
    fn into_api(self) -> Result<Connection, sqlx::Error> {
        Ok(Connection {
            id: self.id,
            name: self.name,
            platform_type: platform(&self.platform_type)?,
            instance_url: self.instance_url,
            username: self.username,
            is_active: self.is_active,
            is_default: self.is_default,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl PostRow {
    fn into_api(self) -> Result<Post, sqlx::Error> {
        Ok(Post {
            id: self.id,
            post_id: self.post_id,
            url: self.url,
            content: self.content,
            image_count: self.image_count,
            platform_connection_id: self.platform_connection_id,
            platform_type: self.platform_type.as_deref().map(platform).transpose()?,
            instance_url: self.instance_url,
            created_at: self.created_at,
        })
    }
}

const CONNECTION_COLUMNS: &str = "id, name, platform_type, instance_url, username, is_active, is_default, created_at, updated_at";
const POST_COLUMNS: &str = "id, post_id, url, content, image_count, platform_connection_id, platform_type, instance_url, created_at";

impl Platforms<'_> {
    /// A user's connections.
    pub async fn connections(&self, user_id: i64) -> Result<Vec<Connection>, sqlx::Error> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM platform_connections WHERE user_id = $1 ORDER BY id"
        );
        let rows: Vec<ConnectionRow> =
            with_pool!(self.0, pool => sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await)?;
        rows.into_iter().map(ConnectionRow::into_api).collect()
    }

    /// Connection `id`, if `user_id` owns it.
    pub async fn connection(
        &self,
        id: i64,
        user_id: i64,
    ) -> Result<Option<Connection>, sqlx::Error> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM platform_connections WHERE id = $1 AND user_id = $2"
        );
        let row: Option<ConnectionRow> = with_pool!(self.0, pool => sqlx::query_as(&sql).bind(id).bind(user_id).fetch_optional(pool).await)?;
        row.map(ConnectionRow::into_api).transpose()
    }

    /// Adds a connection; the owner's first becomes the default unless it says otherwise.
    /// `seal` seals its access token for the new connection's id (to which the sealed token
    /// is bound): stored in the same transaction.
    pub async fn create_connection(
        &self,
        user_id: i64,
        new: &NewConnection<'_>,
        now: &str,
        seal: impl FnOnce(i64) -> anyhow::Result<Vec<u8>>,
    ) -> Result<Connection, ConnectionError> {
        let sql = format!(
            "INSERT INTO platform_connections (user_id, name, platform_type, instance_url, username, access_token_enc, is_active, is_default, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {CONNECTION_COLUMNS}"
        );
        with_pool!(self.0, pool => {
            let mut tx = pool.begin_write().await?;
            let has_default: bool = sqlx::query_scalar(
                "SELECT COUNT(*) > 0 FROM platform_connections WHERE user_id = $1 AND is_default",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            let is_default = new.is_default.unwrap_or(!has_default);
            if is_default {
                sqlx::query("UPDATE platform_connections SET is_default = FALSE WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let row: ConnectionRow = sqlx::query_as(&sql)
                .bind(user_id)
                .bind(new.name)
                .bind(new.platform_type)
                .bind(new.instance_url)
                .bind(new.username)
                .bind(&[0u8; 0][..])
                .bind(new.is_active)
                .bind(is_default)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let sealed = seal(row.id).map_err(ConnectionError::Sealing)?;
            sqlx::query("UPDATE platform_connections SET access_token_enc = $1 WHERE id = $2")
                .bind(sealed)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(row.into_api()?)
        })
    }

    /// Re-seals every stored access token in one transaction: `reseal(id, user_id, sealed)`
    /// gives the token sealed anew, or `None` to keep it; `check` (a setting's name and value)
    /// is stored in the same transaction. Returns how many were re-sealed.
    ///
    /// # Errors
    /// A database failure, or what `reseal` says; nothing is changed then.
    pub async fn reseal_tokens(
        &self,
        mut reseal: impl FnMut(i64, i64, &[u8]) -> anyhow::Result<Option<Vec<u8>>>,
        check: (&str, &[u8]),
    ) -> anyhow::Result<usize> {
        with_pool!(self.0, pool => {
            let mut tx = pool.begin_write().await?;
            let stored: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT id, user_id, access_token_enc FROM platform_connections ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await?;
            let mut count = 0;
            for (id, user_id, sealed) in stored {
                let Some(resealed) = reseal(id, user_id, &sealed)
                    .with_context(|| format!("platform connection {id}"))?
                else {
                    continue;
                };
                sqlx::query("UPDATE platform_connections SET access_token_enc = $1 WHERE id = $2")
                    .bind(resealed)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                count += 1;
            }
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(check.0)
            .bind(check.1)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(count)
        })
    }

    /// Changes the given fields of a user's connection; `None` for no such connection.
    pub async fn update_connection(
        &self,
        id: i64,
        user_id: i64,
        change: &ConnectionChange<'_>,
        now: &str,
    ) -> Result<Option<Connection>, ConnectionError> {
        let sql = format!(
            "UPDATE platform_connections SET name = COALESCE($1, name), instance_url = COALESCE($2, instance_url),
                 username = COALESCE($3, username), access_token_enc = COALESCE($4, access_token_enc),
                 is_active = COALESCE($5, is_active), is_default = COALESCE($6, is_default), updated_at = $7
             WHERE id = $8 AND user_id = $9 RETURNING {CONNECTION_COLUMNS}"
        );
        with_pool!(self.0, pool => {
            let mut tx = pool.begin_write().await?;
            if change.is_default == Some(true) {
                sqlx::query("UPDATE platform_connections SET is_default = FALSE WHERE user_id = $1 AND id <> $2")
                    .bind(user_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            let row: Option<ConnectionRow> = sqlx::query_as(&sql)
                .bind(change.name)
                .bind(change.instance_url)
                .bind(change.username)
                .bind(change.sealed_token)
                .bind(change.is_active)
                .bind(change.is_default)
                .bind(now)
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(row.map(ConnectionRow::into_api).transpose()?)
        })
    }

    /// Deletes a user's connection; whether it existed.
    pub async fn delete_connection(&self, id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query("DELETE FROM platform_connections WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected() > 0)
        })
    }

    /// The connection chosen as the context of `owner` (a session or token of `user_id`).
    pub async fn context(&self, owner: &str, user_id: i64) -> Result<Option<i64>, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query_scalar(
                "SELECT platform_connection_id FROM contexts WHERE owner = $1 AND user_id = $2",
            )
            .bind(owner)
            .bind(user_id)
            .fetch_optional(pool)
            .await
        })
    }

    /// Sets `owner`'s context to a connection.
    pub async fn set_context(
        &self,
        owner: &str,
        user_id: i64,
        connection_id: Option<i64>,
        now: &str,
    ) -> Result<(), sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query(
                "INSERT INTO contexts (owner, user_id, platform_connection_id, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (owner) DO UPDATE SET platform_connection_id = excluded.platform_connection_id,
                     updated_at = excluded.updated_at",
            )
            .bind(owner)
            .bind(user_id)
            .bind(connection_id)
            .bind(now)
            .execute(pool)
            .await
            .map(drop)
        })
    }

    /// Forgets `owner`'s context.
    pub async fn clear_context(&self, owner: &str) -> Result<(), sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query("DELETE FROM contexts WHERE owner = $1")
                .bind(owner)
                .execute(pool)
                .await
                .map(drop)
        })
    }

    /// Records a post for a user.
    pub async fn create_post(
        &self,
        user_id: i64,
        post: &NewPost<'_>,
        now: &str,
    ) -> Result<Post, sqlx::Error> {
        let sql = format!(
            "INSERT INTO posts (user_id, platform_connection_id, platform_type, instance_url, post_id, url, content, image_count, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {POST_COLUMNS}"
        );
        let row: PostRow = with_pool!(self.0, pool => {
            sqlx::query_as(&sql)
                .bind(user_id)
                .bind(post.platform_connection_id)
                .bind(post.platform_type)
                .bind(post.instance_url)
                .bind(post.post_id)
                .bind(post.url)
                .bind(post.content)
                .bind(post.image_count)
                .bind(now)
                .fetch_one(pool)
                .await
        })?;
        row.into_api()
    }

    /// A user's posts that a context's connection (id, platform, instance) admits, newest
    /// first: those recorded by it, and those recorded by platform and instance that match it.
    /// The core's `PlatformContext::filter_posts` with the user is the rule; this is it as SQL
    /// (so that the database pages), held to it by the test
    /// `the_posts_sql_selects_what_the_cores_rule_selects`. Instance URLs are stored
    /// normalised, so equality here is the rule's `same_instance`.
    pub async fn posts(
        &self,
        user_id: i64,
        connection: (i64, &str, &str),
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Post>, sqlx::Error> {
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE user_id = $1
               AND (platform_connection_id = $2
                    OR (platform_connection_id IS NULL AND platform_type = $3 AND instance_url = $4))
             ORDER BY id DESC LIMIT $5 OFFSET $6"
        );
        let rows: Vec<PostRow> = with_pool!(self.0, pool => {
            sqlx::query_as(&sql)
                .bind(user_id)
                .bind(connection.0)
                .bind(connection.1)
                .bind(connection.2)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(PostRow::into_api).collect()
    }
}
