//! Everything the server stores, behind one seam: handlers ask the store and never write SQL,
//! the way mini-redis's commands ask its `Db`. Two backends over sqlx, chosen by the scheme of
//! `FLOWGATE_DATABASE_URL`: SQLite (`sqlite://`, the embedded default) and PostgreSQL
//! (`postgres://`, for several servers), each with its own migrations, applied at start.
//!
//! One type per area ([`accounts`], [`versions`], [`stats`], [`tasks`], [`platforms`]) holds
//! its statements. A statement is written once for both backends where SQL allows (parameters
//! as `$1`, which both take; `TRUE`/`FALSE`; `RETURNING`), and compiled once per backend by
//! `with_pool!`, so each keeps its own driver's types with no run-time translation layer.

pub mod accounts;
pub mod migrate;
pub mod platforms;
mod postgres;
pub mod settings;
mod sqlite;
pub mod stats;
pub mod tasks;
pub mod versions;

use std::path::PathBuf;

use sqlx::{PgPool, SqlitePool};

pub use postgres::redacted;
pub use sqlite::Sync;

/// The database, whichever it is; cheap to clone.
#[derive(Debug, Clone)]
pub enum Store {
    /// The embedded SQLite file.
    Sqlite(SqlitePool),
    /// A PostgreSQL database shared by several servers.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool: written once, compiled for each
/// backend with its own types.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Begins a transaction that is going to write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`, as SQLite's documentation advises for a transaction that reads before it
/// writes): a deferred transaction that has read cannot wait for the lock another writer holds
/// (it fails as busy at once, whatever the busy timeout), while an immediate one waits its turn.
/// PostgreSQL locks rows as it writes them, so its transactions begin as usual.
pub(crate) trait BeginWrite {
    /// The backend.
    type Db: sqlx::Database;

    /// A transaction holding (or, on PostgreSQL, ready to take) the write locks.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;

    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>> + Send
    {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;

    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>> + Send
    {
        self.begin()
    }
}

/// Which backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://…`, `sqlite:…`
    Sqlite,
    /// `postgres://…`, `postgresql://…`
    Postgres,
}

impl Backend {
    /// The backend of `url`.
    ///
    /// # Errors
    /// Names `FLOWGATE_DATABASE_URL` when the scheme is neither.
    pub fn of(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!(
                "FLOWGATE_DATABASE_URL {:?} must start with sqlite:// or postgres://",
                redacted(url)
            )
        }
    }
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    ///
    /// # Errors
    /// A malformed URL (naming `FLOWGATE_DATABASE_URL`), an unreachable database, or a
    /// migration that fails.
    pub async fn open(url: &str) -> anyhow::Result<Store> {
        Store::open_with(url, Sync::default()).await
    }

    /// [`Store::open`], a SQLite database committing as `sync` says (`FLOWGATE_SYNC`;
    /// PostgreSQL's durability is its own server's `synchronous_commit`).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub async fn open_with(url: &str, sync: Sync) -> anyhow::Result<Store> {
        Ok(match Backend::of(url)? {
            Backend::Sqlite => Store::Sqlite(sqlite::open(url, sync).await?),
            Backend::Postgres => Store::Postgres(postgres::open(url).await?),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok())
    }

    /// Closes every connection (waiting for those in use).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }

    /// The accounts, sessions and tokens.
    pub fn accounts(&self) -> accounts::Accounts<'_> {
        accounts::Accounts(self)
    }

    /// The versioned documents (limits, retry policy).
    pub fn versions(&self) -> versions::VersionTables<'_> {
        versions::VersionTables(self)
    }

    /// The retry statistics.
    pub fn stats(&self) -> stats::Stats<'_> {
        stats::Stats(self)
    }

    /// Tasks and their progress.
    pub fn tasks(&self) -> tasks::Tasks<'_> {
        tasks::Tasks(self)
    }

    /// Platform connections, contexts and posts.
    pub fn platforms(&self) -> platforms::Platforms<'_> {
        platforms::Platforms(self)
    }

    /// Values the server keeps about itself.
    pub fn settings(&self) -> settings::Settings<'_> {
        settings::Settings(self)
    }
}

/// Whether `e` is a unique constraint refusing a row (on either backend).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Whether `e` says the database could not be reached or is overloaded, rather than that a
/// statement was wrong: such a request is answered 503, to be tried again.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_)
    )
}

/// A condition of the database that passes, which a client may wait out: its detail for the
/// 503 problem. `None` for anything else.
///
/// SQLite: `SQLITE_BUSY` (5, and its extended codes: another writer held the lock past the busy
/// timeout) and `SQLITE_FULL` (13: the disk, or `max_page_count`, is full). PostgreSQL:
/// `disk_full` (53100), `serialization_failure` (40001), `deadlock_detected` (40P01).
pub fn passing_condition(e: &sqlx::Error) -> Option<&'static str> {
    let sqlx::Error::Database(d) = e else {
        return None;
    };
    let code = d.code()?;
    let sqlite_primary = code.parse::<i32>().ok().map(|c| c & 0xff);
    match (code.as_ref(), sqlite_primary) {
        (_, Some(5)) => Some(
            "the database is busy (another writer held it too long); nothing was changed, try again",
        ),
        (_, Some(13)) | ("53100", _) => {
            Some("the database's disk is full; nothing was changed until space is freed")
        }
        ("40001" | "40P01", _) => Some(
            "the database could not order this change with a concurrent one; nothing was \
             changed, try again",
        ),
        _ => None,
    }
}

/// Whether `e` is the database refusing a text value (PostgreSQL refuses U+0000 in text).
pub fn is_refused_text(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("22021" | "22P05")))
}

/// The database's URL as a file path, for files kept beside a SQLite database.
pub fn context_file(url: &str, suffix: &str) -> Option<PathBuf> {
    file_of(url).map(|f| {
        let mut name = f.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        f.with_file_name(name)
    })
}

/// The file a `sqlite:` URL names, if it names one.
pub fn file_of(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Now, as RFC 3339 with microseconds (how times are stored and shown).
pub fn now_rfc3339() -> String {
    rfc3339(jiff::Timestamp::now())
}

/// A timestamp as RFC 3339 in UTC with microseconds.
pub fn rfc3339(t: jiff::Timestamp) -> String {
    format!("{t:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_files_are_found_in_urls() {
        assert_eq!(
            file_of("sqlite://flowgate.db"),
            Some(PathBuf::from("flowgate.db"))
        );
        assert_eq!(
            file_of("sqlite:///tmp/x.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(file_of("sqlite::memory:"), None);
        assert_eq!(file_of("postgres://x"), None);
        assert_eq!(
            context_file("sqlite://d/fg.db", ".secret-key"),
            Some(PathBuf::from("d/fg.db.secret-key"))
        );
    }

    #[test]
    fn the_scheme_picks_the_backend() {
        assert_eq!(Backend::of("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("postgres://u@h/d").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of("postgresql://h/d").unwrap(), Backend::Postgres);
        let e = Backend::of("mysql://u:pw@h/d").unwrap_err().to_string();
        assert!(
            e.contains("FLOWGATE_DATABASE_URL") && !e.contains("pw"),
            "{e}"
        );
    }
}
