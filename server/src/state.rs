//! What every handler shares: the database, the limiters, the policies in force.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use flowgate_core::ratelimit::{RateLimitConfig, RateLimiter};
use flowgate_core::retry::{OperationStats, RetryConfig, RetryStats, SharedRetryStats};
use sqlx::SqlitePool;

use crate::auth::{self, AuthCache};
use crate::config::ServerConfig;
use crate::db;
use crate::live::Live;
use crate::secrets::Vault;
use crate::versions::Versions;

/// The shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The shared state's contents.
pub struct Inner {
    /// The database.
    pub db: SqlitePool,
    /// The configuration the server started with.
    pub config: ServerConfig,
    /// The monotonic epoch of the limiters' clock.
    epoch: Instant,
    /// The decision service's limiter.
    pub limiter: RateLimiter,
    /// The limits document, every version of it.
    pub limits: Versions<RateLimitConfig>,
    /// The limiter of the server's own API.
    pub api_limiter: RateLimiter,
    /// The limiter of login attempts.
    pub login_limiter: RateLimiter,
    /// The retry policy, every version of it.
    pub retry_policy: Versions<RetryConfig>,
    /// Orders the writes of retry statistics.
    pub stats_write: tokio::sync::Mutex<()>,
    /// Retry statistics (also stored, per operation).
    pub retry_stats: SharedRetryStats,
    /// Recently checked sessions and tokens.
    pub auth_cache: AuthCache,
    /// Tasks being watched or worked on.
    pub live: Live,
    /// Seals platform access tokens.
    pub vault: Vault,
    /// Becomes true when the server stops, so that event streams end.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// Opens the database, applies migrations, creates the first admin if there are no users,
    /// and loads the limits, retry policy and statistics in force.
    ///
    /// # Errors
    /// When the database cannot be opened or holds a document that no longer validates.
    pub async fn open(config: ServerConfig) -> anyhow::Result<AppState> {
        let db = db::open(&config.database_url).await?;
        bootstrap_admin(&db, &config).await?;
        // RATE_LIMIT_* seeds an empty database; from then on the stored limits hold.
        let seed = config.initial_limits.clone();
        let limits =
            Versions::load(&db, "limits_versions", move || (seed, Some("environment"))).await?;
        let retry_policy = Versions::load(&db, "retry_policy_versions", || {
            (RetryConfig::default(), None)
        })
        .await?;
        let stats = load_retry_stats(&db).await?;
        let limiter = RateLimiter::new(&limits.current().document).context("the stored limits")?;
        let api_limiter = RateLimiter::new(&config.api_limits).context("FLOWGATE_API_* limits")?;
        let login_limiter =
            RateLimiter::new(&config.login_limits).context("FLOWGATE_LOGIN_* limits")?;
        let retry_stats = SharedRetryStats::new();
        retry_stats.replace(stats);
        let key_file = db::file_of(&config.database_url).map(|f| {
            let mut name = f.file_name().unwrap_or_default().to_os_string();
            name.push(".secret-key");
            f.with_file_name(name)
        });
        let vault = Vault::open(config.secret_key.as_deref(), key_file.as_deref())?;
        Ok(AppState(Arc::new(Inner {
            db,
            config,
            epoch: Instant::now(),
            limiter,
            limits,
            api_limiter,
            login_limiter,
            retry_policy,
            stats_write: tokio::sync::Mutex::new(()),
            retry_stats,
            auth_cache: AuthCache::default(),
            live: Live::default(),
            vault,
            shutdown: tokio::sync::watch::channel(false).0,
        })))
    }

    /// The limiters' clock: time since the server started, from a monotonic source.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Ends every event stream: the server is stopping.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

/// Creates `admin` when there are no users: with `FLOWGATE_ADMIN_PASSWORD`, else a random
/// password written to a 0600 file beside the database (whose path, never the password, is
/// printed).
async fn bootstrap_admin(db: &SqlitePool, config: &ServerConfig) -> anyhow::Result<()> {
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db)
        .await?;
    if users > 0 {
        return Ok(());
    }
    let (password, file) = match &config.admin_password {
        Some(p) => (p.clone(), None),
        None => {
            let password = auth::new_secret();
            let path = match db::file_of(&config.database_url) {
                Some(db_file) => {
                    let mut name = db_file.file_name().unwrap_or_default().to_os_string();
                    name.push(".admin-password");
                    db_file.with_file_name(name)
                }
                None => std::env::temp_dir()
                    .join(format!("flowgate-{}.admin-password", std::process::id())),
            };
            write_private(&path, &password)
                .with_context(|| format!("writing {}", path.display()))?;
            (password, Some(path))
        }
    };
    let hash = auth::hash_password(password).await?;
    sqlx::query("INSERT INTO users (username, password_hash, role, is_active, created_at) VALUES ('admin', ?, 'admin', 1, ?)")
        .bind(hash)
        .bind(db::now_rfc3339())
        .execute(db)
        .await?;
    match file {
        Some(path) => {
            tracing::warn!(file = %path.display(), "created user admin; its password is in the file");
            println!(
                "flowgate: created user 'admin'; its password is in {}",
                path.display()
            );
        }
        None => tracing::info!("created user admin with FLOWGATE_ADMIN_PASSWORD"),
    }
    Ok(())
}

/// Writes `contents` to a new file only its owner can read.
pub(crate) fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{contents}")
}

async fn load_retry_stats(db: &SqlitePool) -> anyhow::Result<RetryStats> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT operation, stats FROM retry_stats")
        .fetch_all(db)
        .await?;
    rows.into_iter()
        .map(|(operation, stats)| {
            let stats: OperationStats = serde_json::from_str(&stats)
                .with_context(|| format!("stored statistics of {operation:?}"))?;
            Ok((operation, stats))
        })
        .collect()
}
