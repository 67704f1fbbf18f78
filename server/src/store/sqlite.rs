//! The embedded SQLite database: one file, opened in WAL mode, migrated at start.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _, SqlitePool};

/// Opens (creating if needed) and migrates the database at `url`.
///
/// WAL lets readers run beside the one writer; `synchronous = NORMAL` still makes every
/// committed transaction survive the process being killed (only an OS crash can lose the last
/// ones), which is the promise "persisted before acknowledged" needs.
pub(super) async fn open(url: &str) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("FLOWGATE_DATABASE_URL {url:?} is not a SQLite URL"))?
        .create_if_missing(true)
        .synchronous(SqliteSynchronous::Normal)
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

    /// New files opened side by side each open, in WAL mode (now set once, before the pool).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_files_open_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let opens = (0..20).map(|i| {
            let url = format!("sqlite://{}", dir.path().join(format!("{i}.db")).display());
            tokio::spawn(async move { open(&url).await })
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
