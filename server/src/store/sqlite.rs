//! The embedded SQLite database: one file, opened in WAL mode, migrated at start.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _, SqlitePool};

/// How durably SQLite commits (`FLOWGATE_SYNC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sync {
    /// `synchronous = NORMAL` in WAL mode, the default: every acknowledged write survives the
    /// process being killed; an OS crash or power loss may lose the last ones (the WAL is
    /// synced at checkpoints, not at every commit). The promise "persisted before acknowledged"
    /// against crashes of flowgate itself, at a fraction of the cost.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is synced to disk before it is acknowledged, so it
    /// survives power loss too; each write costs an fsync.
    Full,
}

/// Opens (creating if needed) and migrates the database at `url`, committing as `sync` says.
///
/// WAL lets readers run beside the one writer.
pub(super) async fn open(url: &str, sync: Sync) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("FLOWGATE_DATABASE_URL {url:?} is not a SQLite URL"))?
        .create_if_missing(true)
        .synchronous(match sync {
            Sync::Normal => SqliteSynchronous::Normal,
            Sync::Full => SqliteSynchronous::Full,
        })
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if !in_memory {
        // WAL is a property of the file and stays once set: switch to it on one connection
        // before the pool opens several. Switching takes an exclusive lock the busy timeout does
        // not wait for, so pool connections racing to switch a new file now and then failed
        // with "database is locked".
        options
            .clone()
            .journal_mode(SqliteJournalMode::Wal)
            .connect()
            .await
            .with_context(|| format!("opening the database {url:?}"))?
            .close()
            .await
            .with_context(|| format!("opening the database {url:?}"))?;
    }
    let pool = SqlitePoolOptions::new()
        // An in-memory database lives in one connection; a file is shared by several.
        .max_connections(if in_memory { 1 } else { 8 })
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        // When a write fails as the disk fills (or on I/O errors), SQLite rolls the transaction
        // back itself; sqlx's ROLLBACK then fails and it still counts the connection as inside
        // a transaction, so every later transaction on it would fail. Such a connection is
        // closed instead of reused (a file database only: a memory one lives in its
        // connection).
        .after_release(move |conn, _| {
            let keep = in_memory || !conn.is_in_transaction();
            Box::pin(async move { Ok(keep) })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("opening the database {url:?}"))?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_sync_is_asked_of_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        for (sync, expected) in [(Sync::Normal, 1), (Sync::Full, 2)] {
            let url = format!(
                "sqlite://{}",
                dir.path().join(format!("{expected}.db")).display()
            );
            let pool = open(&url, sync).await.unwrap();
            let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(level, expected, "{sync:?}");
        }
    }

    /// A real lock held past the busy timeout, and a real full database (its page count
    /// capped), are each a passing condition: 503 with a detail naming it, not a 500.
    #[tokio::test]
    async fn a_locked_or_full_database_is_a_named_503() {
        use crate::error::ApiError;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("f.db").display());
        open(&url, Sync::Normal).await.unwrap().close().await;
        let connect = || async {
            SqliteConnectOptions::from_str(&url)
                .unwrap()
                .busy_timeout(Duration::ZERO)
                .connect()
                .await
                .unwrap()
        };
        let mut holder = connect().await;
        let mut other = connect().await;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        let locked = sqlx::query("INSERT INTO retry_stats VALUES ('a', '{}', 'now')")
            .execute(&mut other)
            .await
            .unwrap_err();
        let answer = ApiError::from(locked);
        assert_eq!(answer.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(matches!(answer, ApiError::Busy(d) if d.contains("busy")));
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();

        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut other)
            .await
            .unwrap();
        sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
            .execute(&mut other)
            .await
            .unwrap();
        let big = "x".repeat(64 * 1024);
        let full = sqlx::query("INSERT INTO retry_stats VALUES ('b', $1, 'now')")
            .bind(big)
            .execute(&mut other)
            .await
            .unwrap_err();
        let answer = ApiError::from(full);
        assert_eq!(answer.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(matches!(answer, ApiError::Busy(d) if d.contains("disk is full")));
    }

    /// New files opened side by side each open, in WAL mode (now set once, before the pool).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_files_open_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let opens = (0..20).map(|i| {
            let url = format!("sqlite://{}", dir.path().join(format!("{i}.db")).display());
            tokio::spawn(async move { open(&url, Sync::Normal).await })
        });
        for opened in futures_util::future::join_all(opens).await {
            let pool = opened.unwrap().unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
        }
    }
}
