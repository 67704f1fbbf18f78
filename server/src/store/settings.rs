//! Values the server keeps about itself (the check value of the platform tokens' key).

use super::{Store, with_pool};

/// The settings area of the store.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a>(pub(super) &'a Store);

impl Settings<'_> {
    /// The value of `name`, if set.
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
        })
    }

    /// Sets `name` to `value` unless it is set already (another server may set it at the
    /// same moment: the first one wins); returns the value now stored.
    pub async fn set_once(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(value)
                .execute(pool)
                .await?;
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await
        })
    }

    /// One sealed platform token, with its connection and owner: to tell whether a key opens
    /// what is stored.
    pub async fn any_sealed_token(&self) -> Result<Option<(i64, i64, Vec<u8>)>, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query_as("SELECT id, user_id, access_token_enc FROM platform_connections ORDER BY id LIMIT 1")
                .fetch_optional(pool)
                .await
        })
    }
}
