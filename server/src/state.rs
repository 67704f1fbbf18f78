//! What every handler shares: the store, the limiters, the policies in force.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use flowgate_core::ratelimit::{RateLimitConfig, RateLimiter};
use flowgate_core::retry::RetryConfig;
use flowgate_redis::RedisLimiter;

use crate::auth::{self, AuthCache, Role};
use crate::config::ServerConfig;
use crate::fanout::Fanout;
use crate::limiter::Decisions;
use crate::live::Live;
use crate::secrets::{self, Vault};
use crate::store::versions::Table;
use crate::store::{self, Backend, Store};
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
    /// Everything stored.
    pub store: Store,
    /// The configuration the server started with.
    pub config: ServerConfig,
    /// The monotonic epoch of the limiters' clock.
    epoch: Instant,
    /// The decision service's buckets: in process, or in Redis.
    pub decisions: Decisions,
    /// The limits document, every version of it.
    pub limits: Versions<RateLimitConfig>,
    /// The limiter of the server's own API (the `flowgate-tower` layer's buckets).
    pub api_limiter: Arc<RateLimiter>,
    /// The limiter of login attempts.
    pub login_limiter: RateLimiter,
    /// Password hashing, a few at a time.
    pub password_work: auth::PasswordWork,
    /// The retry policy, every version of it.
    pub retry_policy: Versions<RetryConfig>,
    /// Recently checked sessions and tokens.
    pub auth_cache: AuthCache,
    /// Tasks being watched or worked on.
    pub live: Live,
    /// Tells other servers of changes (PostgreSQL `NOTIFY`).
    pub fanout: Fanout,
    /// Seals platform access tokens.
    pub vault: Vault,
    /// What `/metrics` reports.
    pub metrics: crate::metrics::Metrics,
    /// Becomes true when the server stops, so that event streams end.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// Opens the database, applies migrations, creates the first admin if there are no users,
    /// and loads the limits and retry policy in force.
    ///
    /// # Errors
    /// When the database cannot be opened or holds a document that no longer validates; with
    /// PostgreSQL, when `FLOWGATE_SECRET_KEY` is not set (every server must seal and open
    /// platform tokens with the same key).
    pub async fn open(config: ServerConfig) -> anyhow::Result<AppState> {
        let backend = Backend::of(&config.database_url)?;
        if backend == Backend::Postgres && config.secret_key.is_none() {
            anyhow::bail!(
                "FLOWGATE_SECRET_KEY is required with a postgres:// database: every server must \
                 use the same key to open the platform tokens another stored (32 bytes, base64 \
                 or hex; `openssl rand -base64 32` makes one)"
            );
        }
        let store = Store::open_with(&config.database_url, config.sync).await?;
        bootstrap_admin(&store, &config).await?;
        // RATE_LIMIT_* seeds an empty database; from then on the stored limits hold.
        let seed = config.initial_limits.clone();
        let limits =
            Versions::load(&store, Table::Limits, move || (seed, Some("environment"))).await?;
        let retry_policy = Versions::load(&store, Table::RetryPolicy, || {
            (RetryConfig::default(), None)
        })
        .await?;
        let in_force = limits.current().document;
        let decisions = match &config.redis {
            None => Decisions::local(&in_force, config.max_keys),
            Some(redis) => {
                let client = RedisLimiter::new(&redis.url, redis.timeout)
                    .map_err(|e| anyhow::anyhow!("FLOWGATE_REDIS_URL: {e}"))?;
                Decisions::shared(client, redis.failure, &in_force)
            }
        }
        .context("the stored limits")?;
        let api_limiter =
            Arc::new(RateLimiter::new(&config.api_limits).context("FLOWGATE_API_* limits")?);
        let login_limiter =
            RateLimiter::new(&config.login_limits).context("FLOWGATE_LOGIN_* limits")?;
        let key_file = store::context_file(&config.database_url, ".secret-key");
        let vault = Vault::open(config.secret_key.as_deref(), key_file.as_deref())?;
        let key_source = match (&config.secret_key, &key_file) {
            (Some(_), _) => "FLOWGATE_SECRET_KEY".to_string(),
            (None, Some(file)) => format!("the key file {}", file.display()),
            (None, None) => "the key made for this process".to_string(),
        };
        check_key(&store, &vault, &key_source).await?;
        let fanout = Fanout::for_store(&store);
        let live_tasks = config.max_live_tasks;
        let streams_per_user = config.max_streams_per_user;
        let password_work = auth::PasswordWork::new(
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            config.password_queue,
        );
        Ok(AppState(Arc::new(Inner {
            store,
            config,
            epoch: Instant::now(),
            decisions,
            limits,
            api_limiter,
            login_limiter,
            password_work,
            retry_policy,
            auth_cache: AuthCache::default(),
            live: Live::new(live_tasks, streams_per_user),
            fanout,
            vault,
            metrics: crate::metrics::Metrics::new(),
            shutdown: tokio::sync::watch::channel(false).0,
        })))
    }

    /// The limiters' clock: time since the server started, from a monotonic source.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The metrics in the Prometheus text format, with what is read from the server's state
    /// at this moment.
    ///
    /// # Errors
    /// When the database cannot count the tasks.
    pub async fn render_metrics(&self) -> Result<String, crate::error::ApiError> {
        let readings = crate::metrics::Readings {
            live_keys: self.decisions.active_keys(),
            subscribers: self.live.open_streams(),
            tasks: self.store.tasks().count_by_status().await?,
        };
        self.metrics
            .render(&readings)
            .map_err(|e| crate::error::ApiError::Internal(e.into()))
    }

    /// Ends every event stream: the server is stopping.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

/// Refuses a key that is not the one the database's platform tokens were sealed with: the
/// database keeps a check value of its key (made by the first server to start, or on the first
/// start after an upgrade, once a stored token is seen to open), and a server with another key
/// would otherwise start and silently fail to open every token.
async fn check_key(store: &Store, vault: &Vault, source: &str) -> anyhow::Result<()> {
    let refuse = || {
        anyhow::anyhow!(
            "{source} is not the key this database's platform tokens were sealed with: start \
             every server with the same FLOWGATE_SECRET_KEY (after migrate-to: the contents of the \
             old database's .secret-key file; after rotate-key: the new key; if rotate-key was \
             interrupted, run it again to finish)"
        )
    };
    let stored = match store.settings().get(secrets::KEY_CHECK).await? {
        Some(check) => check,
        None => {
            // A database from before the check: the key must open what is stored.
            if let Some((id, user_id, sealed)) = store.settings().any_sealed_token().await?
                && vault.open_platform_token(&sealed, user_id, id).is_err()
            {
                return Err(refuse());
            }
            store
                .settings()
                .set_once(secrets::KEY_CHECK, &vault.check_value()?)
                .await?
        }
    };
    if vault.matches(&stored) {
        Ok(())
    } else {
        Err(refuse())
    }
}

/// What [`rotate_key`] did.
#[derive(Debug)]
pub struct Rotated {
    /// Platform tokens sealed anew (0 when an interrupted rotation had sealed them all).
    pub resealed: usize,
    /// The key file that now holds the new key, when the key is kept in one.
    pub key_file: Option<std::path::PathBuf>,
}

/// `rotate-key`: seals every platform token of the database in `config` anew with `new_key`
/// (or, with a key file, a key made for it) and stores the new key's check value, all in one
/// transaction; then the new key replaces the key file's. The new key waits in
/// `<key file>.new` until then, so a rotation stopped at any point is finished by running it
/// again, and no token is ever sealed with a key that is not on disk.
///
/// # Errors
/// The current key is not the database's; no new key where one must be given; a token that
/// does not open; a database or file failure (nothing is changed in the database then).
pub async fn rotate_key(config: &ServerConfig, new_key: Option<&str>) -> anyhow::Result<Rotated> {
    let store = Store::open_with(&config.database_url, config.sync).await?;
    // With FLOWGATE_SECRET_KEY set, files are not the key's home.
    let key_file = store::context_file(&config.database_url, ".secret-key")
        .filter(|_| config.secret_key.is_none());
    let staged = key_file.as_ref().map(|f| {
        let mut name = f.as_os_str().to_owned();
        name.push(".new");
        std::path::PathBuf::from(name)
    });
    let new = match (new_key, &staged) {
        (Some(text), Some(staged)) => {
            let vault = Vault::from_key_text(text).context("FLOWGATE_NEW_SECRET_KEY")?;
            match create_private(staged, text.trim()) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    anyhow::ensure!(
                        Vault::open(None, Some(staged))?.matches(&vault.check_value()?),
                        "{} holds another new key, from a rotation that did not finish: run \
                         rotate-key without FLOWGATE_NEW_SECRET_KEY to finish it",
                        staged.display()
                    );
                }
                other => other.with_context(|| format!("writing {}", staged.display()))?,
            }
            vault
        }
        (Some(text), None) => Vault::from_key_text(text).context("FLOWGATE_NEW_SECRET_KEY")?,
        // Made now, or kept from a rotation that stopped.
        (None, Some(staged)) => Vault::open(None, Some(staged))?,
        (None, None) => anyhow::bail!(
            "give the new key as FLOWGATE_NEW_SECRET_KEY (32 bytes as base64 or hex; `openssl \
             rand -base64 32` makes one)"
        ),
    };
    let check = store.settings().get(secrets::KEY_CHECK).await?;
    let mut resealed = 0;
    // A rotation that stopped after its commit has nothing left to seal.
    if !check.as_deref().is_some_and(|c| new.matches(c)) {
        let old = Vault::open(config.secret_key.as_deref(), key_file.as_deref())?;
        if let Some(check) = &check {
            anyhow::ensure!(
                old.matches(check),
                "the current key is not the one this database's platform tokens are sealed with"
            );
        }
        resealed = store
            .platforms()
            .reseal_tokens(
                |id, user_id, sealed| {
                    if new.sealed_it(sealed) {
                        return Ok(None);
                    }
                    let token = old.open_platform_token(sealed, user_id, id)?;
                    Ok(Some(new.seal_platform_token(&token, user_id, id)?))
                },
                (secrets::KEY_CHECK, &new.check_value()?),
            )
            .await?;
    }
    store.close().await;
    if let (Some(file), Some(staged)) = (&key_file, &staged) {
        std::fs::rename(staged, file)
            .with_context(|| format!("moving {} to {}", staged.display(), file.display()))?;
        sync_parent(file).with_context(|| format!("syncing the folder of {}", file.display()))?;
    }
    Ok(Rotated { resealed, key_file })
}

/// Creates `admin` when there are no users: with `FLOWGATE_ADMIN_PASSWORD`, else a random
/// password written to a 0600 file beside the database (whose path, never the password, is
/// printed).
async fn bootstrap_admin(store: &Store, config: &ServerConfig) -> anyhow::Result<()> {
    if store.accounts().count().await? > 0 {
        return Ok(());
    }
    let (password, file) = match &config.admin_password {
        Some(p) => (p.clone(), None),
        None => {
            let password = auth::new_secret();
            let path =
                store::context_file(&config.database_url, ".admin-password").unwrap_or_else(|| {
                    std::env::temp_dir()
                        .join(format!("flowgate-{}.admin-password", std::process::id()))
                });
            write_private(&path, &password)
                .with_context(|| format!("writing {}", path.display()))?;
            (password, Some(path))
        }
    };
    let hash = auth::hash_password(&auth::PasswordWork::new(1, 0), password)
        .await
        .map_err(|e| anyhow::anyhow!("hashing the first admin's password: {e:?}"))?;
    let created = store
        .accounts()
        .create_user("admin", &hash, Role::Admin, &store::now_rfc3339())
        .await?;
    if created.is_none() {
        // Another server sharing the database created it first.
        if let Some(path) = file {
            let _ = std::fs::remove_file(path);
        }
        return Ok(());
    }
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

/// Writes `contents` to a file only its owner can read, replacing any, durably.
pub(crate) fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    write_synced(path, contents)?;
    sync_parent(path)
}

/// Writes `contents` to a new file only its owner can read, durably and whole: it appears
/// under `path` complete or not at all (written beside it, then linked into place, which
/// fails if `path` exists). `AlreadyExists` when another process made it meanwhile: it is
/// never overwritten, and a reader never sees it half-written.
pub(crate) fn create_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        auth::new_secret()
    ));
    let staged = std::path::PathBuf::from(name);
    write_synced(&staged, contents)?;
    let linked = std::fs::hard_link(&staged, path);
    let _ = std::fs::remove_file(&staged);
    linked?;
    sync_parent(path)
}

/// Writes a 0600 file and syncs it: on disk before anything is sealed with what it holds.
fn write_synced(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{contents}")?;
    file.sync_all()
}

/// Syncs the directory of `path`, so that the file's name survives a power cut too.
fn sync_parent(path: &std::path::Path) -> std::io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}
