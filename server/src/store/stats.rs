//! Retry statistics per operation, added to atomically: reports sent to several servers at
//! once add up exactly.

use flowgate_core::retry::OperationStats;

use super::{BeginWrite as _, Store, with_pool};

/// The statistics area of the store.
#[derive(Debug, Clone, Copy)]
pub struct Stats<'a>(pub(super) &'a Store);

impl Stats<'_> {
    /// Every operation's statistics as stored (JSON).
    pub async fn all(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query_as("SELECT operation, stats FROM retry_stats ORDER BY operation")
                .fetch_all(pool)
                .await
        })
    }

    /// Counts into `operation`'s statistics with `count`, in one transaction that holds the
    /// operation's row from the read to the write: concurrent counts, on any server, wait for
    /// each other instead of overwriting each other. A new operation beyond `max_operations`
    /// makes room by dropping the operations reported least recently. Returns the statistics
    /// as stored.
    pub async fn count(
        &self,
        operation: &str,
        now: &str,
        max_operations: i64,
        count: impl FnOnce(&mut OperationStats),
    ) -> Result<OperationStats, sqlx::Error> {
        let empty = serde_json::to_string(&OperationStats::default())
            .map_err(|e| sqlx::Error::Encode(e.into()))?;
        with_pool!(self.0, pool => {
            let mut tx = pool.begin_write().await?;
            // Counting the operations only when a new one comes keeps a report's cost the same
            // however many there are; names are few and come back, so that is rare.
            // COUNT(*) is a BIGINT on PostgreSQL and an INTEGER on SQLite: an i64 on both.
            let known: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM retry_stats WHERE operation = $1")
                    .bind(operation)
                    .fetch_one(&mut *tx)
                    .await?;
            if known == 0 {
                let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM retry_stats")
                    .fetch_one(&mut *tx)
                    .await?;
                let over = held - max_operations + 1;
                if over > 0 {
                    sqlx::query(
                        "DELETE FROM retry_stats WHERE operation IN
                         (SELECT operation FROM retry_stats ORDER BY updated_at, operation LIMIT $1)",
                    )
                    .bind(over)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            // The upsert writes first: it takes the row's lock (PostgreSQL) or the database's
            // write lock (SQLite) before the statistics are read, so they cannot change between
            // this read and the write below.
            let stored: String = sqlx::query_scalar(
                "INSERT INTO retry_stats (operation, stats, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (operation) DO UPDATE SET updated_at = excluded.updated_at
                 RETURNING stats",
            )
            .bind(operation)
            .bind(&empty)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let mut stats: OperationStats = serde_json::from_str(&stored)
                .map_err(|e| sqlx::Error::Decode(e.into()))?;
            count(&mut stats);
            let text = serde_json::to_string(&stats).map_err(|e| sqlx::Error::Encode(e.into()))?;
            sqlx::query("UPDATE retry_stats SET stats = $1 WHERE operation = $2")
                .bind(text)
                .bind(operation)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(stats)
        })
    }
}
