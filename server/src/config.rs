//! The server's configuration: command-line flags (each with an environment variable), and the
//! limit documents read from `RATE_LIMIT_*`, `FLOWGATE_API_*` and `FLOWGATE_LOGIN_*`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use flowgate_core::ratelimit::RateLimitConfig;

use crate::limiter::FailureMode;

/// flowgate's server: the rate-limit decision service, retry policy and statistics, tasks with
/// live progress, platform context and accounts, on an embedded SQLite database, with the
/// admin console at `/`.
///
/// Limits are also read from the environment: `RATE_LIMIT_*` seeds the limits of an empty
/// database (`RATE_LIMIT_REQUESTS_PER_MINUTE`, `RATE_LIMIT_ENDPOINT_MEDIA_MINUTE`, ...);
/// `FLOWGATE_API_*` limits the server's own API per client and `FLOWGATE_LOGIN_*` the login
/// attempts per client address (same names after the prefix). `FLOWGATE_ADMIN_PASSWORD` sets
/// the first admin's password; without it a random one is written to a file beside the
/// database.
///
/// Several servers: `FLOWGATE_DATABASE_URL=postgres://…` (then `FLOWGATE_SECRET_KEY` is
/// required, the same on every server) and `FLOWGATE_REDIS_URL=redis://…` for the shared
/// buckets, with `FLOWGATE_REDIS_FAILURE` (`local`, `closed` or `open`: what decisions are
/// while Redis is unreachable; default `local`) and `FLOWGATE_REDIS_TIMEOUT_MS` (how long a
/// decision waits for Redis; default 50).
///
/// Behind reverse proxies, `FLOWGATE_TRUSTED_PROXIES` lists their networks (CIDRs or addresses,
/// comma-separated): only from those are `Forwarded` and `X-Forwarded-For` believed, so that
/// each client behind them counts as itself (IPv6 clients by their /64).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "flowgate-server", version)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "FLOWGATE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The database: `sqlite://<file>` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "FLOWGATE_DATABASE_URL",
        default_value = "sqlite://flowgate.db"
    )]
    pub database_url: String,
    /// The admin console's built files (`trunk build --release` writes them to dist/).
    #[arg(long, env = "FLOWGATE_CONSOLE_DIR", default_value = "dist")]
    pub console_dir: PathBuf,
    /// The origin browsers reach the server at, when it differs from `http://<Host>` (behind a
    /// TLS proxy, say): cookie-authenticated changes must come from it.
    #[arg(long, env = "FLOWGATE_PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,
    /// Threads serving connections, each with its own runtime [default: four per core].
    #[arg(long, env = "FLOWGATE_WORKERS")]
    pub workers: Option<std::num::NonZeroUsize>,
    /// Log filter (`info`, `flowgate_server=debug,tower_http=debug`, ...).
    #[arg(long, env = "FLOWGATE_LOG", default_value = "info")]
    pub log: String,
    /// Log format.
    #[arg(long, env = "FLOWGATE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Instead of serving, one task.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the server can do instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Copies everything the database (`FLOWGATE_DATABASE_URL`) holds into another, empty one
    /// and exits: how one server's SQLite database moves to the PostgreSQL of several. Ids are
    /// kept, so tokens, sessions and tasks stay valid. Give the servers on the new database the
    /// key that sealed the platform tokens (`FLOWGATE_SECRET_KEY`, or the `.secret-key` file
    /// beside the SQLite database).
    MigrateTo {
        /// The target, e.g. `postgres://flowgate@db.internal/flowgate`.
        url: String,
    },
    /// Seals every stored platform access token anew with a new key and makes it the key the
    /// database expects, then exits. Stop the servers first. With the key file beside a SQLite
    /// database, the new key is made (or taken from `FLOWGATE_NEW_SECRET_KEY`) and replaces the
    /// file's; with `FLOWGATE_SECRET_KEY`, give the new one as `FLOWGATE_NEW_SECRET_KEY` and
    /// then start every server with it. Run it again if it was interrupted: it finishes.
    RotateKey {
        /// The new key (32 bytes as base64 or hex; `openssl rand -base64 32` makes one).
        #[arg(long, env = "FLOWGATE_NEW_SECRET_KEY", hide_env_values = true)]
        new_key: Option<String>,
    },
    /// Prints the OpenAPI 3.1 document of the HTTP API (what `GET /api/v1/openapi.json`
    /// serves) and exits, for client generators that read a file.
    Openapi,
}

/// Everything the server needs to start. Its `Debug` form shows no secret.
#[derive(Clone)]
pub struct ServerConfig {
    /// The database URL (`sqlite://path`, `sqlite::memory:`).
    pub database_url: String,
    /// Where the console's built files are.
    pub console_dir: PathBuf,
    /// The public origin, if set.
    pub public_origin: Option<String>,
    /// The first admin's password, if given.
    pub admin_password: Option<String>,
    /// The limits an empty database starts with.
    pub initial_limits: RateLimitConfig,
    /// The limits of the server's own API, per client.
    pub api_limits: RateLimitConfig,
    /// The limits of login attempts, per client address.
    pub login_limits: RateLimitConfig,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// The key that encrypts platform access tokens at rest (32 bytes, base64 or hex), if given;
    /// else one is generated into a file beside the database.
    pub secret_key: Option<String>,
    /// How many threads serve connections (see [`default_workers`]).
    pub workers: usize,
    /// Redis for the decision service's buckets, shared by several servers; none keeps them
    /// in this process.
    pub redis: Option<RedisConfig>,
    /// The reverse proxies whose forwarded addresses are believed (none by default).
    pub trusted_proxies: flowgate_tower::TrustedProxies,
    /// How many password checks may wait for a free core before logins are answered 503
    /// (`FLOWGATE_PASSWORD_QUEUE`); as many run at once as there are cores.
    pub password_queue: usize,
    /// The most keys the in-process decision service holds at once (`FLOWGATE_MAX_KEYS`):
    /// a new key beyond it is answered 503, and no key still limiting is dropped for it.
    pub max_keys: usize,
    /// The most tasks watched or being updated at once (`FLOWGATE_MAX_LIVE_TASKS`): beyond
    /// it, a new subscriber or update of another task is answered 503.
    pub max_live_tasks: usize,
    /// The most unfinished (queued or running) tasks a user may have
    /// (`FLOWGATE_MAX_OPEN_TASKS`): beyond it, creating one is answered 409.
    pub max_open_tasks: u64,
    /// The most operations retry statistics are kept for (`FLOWGATE_MAX_OPERATIONS`): a report
    /// of a new one beyond it drops the operations reported least recently.
    pub max_operations: usize,
    /// The most connections open at once (`FLOWGATE_MAX_CONNECTIONS`): a new one beyond it is
    /// answered 503 and closed.
    pub max_connections: usize,
    /// How long a request may take, body included (`FLOWGATE_REQUEST_TIMEOUT_S`); event
    /// streams excepted.
    pub request_timeout: Duration,
    /// How long requests in flight may take to finish once the server is told to stop
    /// (`FLOWGATE_SHUTDOWN_GRACE_S`); it exits then anyway.
    pub shutdown_grace: Duration,
    /// The most event streams one user may hold open (`FLOWGATE_MAX_STREAMS_PER_USER`): one
    /// more is answered 429.
    pub max_streams_per_user: usize,
    /// How durably SQLite commits (`FLOWGATE_SYNC=normal|full`).
    pub sync: crate::store::Sync,
    /// Whose decision keys are whose (`FLOWGATE_KEY_NAMESPACE=global|user`).
    pub key_namespace: KeyNamespace,
    /// Where `/metrics` is served open (`FLOWGATE_METRICS_ADDR`); without it, `/metrics` is
    /// on the main address, to an admin.
    pub metrics_addr: Option<SocketAddr>,
}

/// Whose decision keys are whose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyNamespace {
    /// One set of keys for every caller (the default): callers that name the same key share
    /// its buckets, as the workers of one bot do.
    #[default]
    Global,
    /// Each user's keys are their own: the same key named by two users is two sets of
    /// buckets, and no user can spend, read or reset another's (an admin reaches another
    /// user's keys with `?user=<id>`).
    User,
}

impl KeyNamespace {
    /// The limiter key `key` named by user `user_id` is: shared, or under `user` the user's
    /// own (in Redis, `fg:{u<id>:<key>}:<bucket>`).
    pub fn scoped(self, user_id: i64, key: &str) -> flowgate_redis::Key<'_> {
        match self {
            KeyNamespace::Global => flowgate_redis::Key::Shared(key),
            KeyNamespace::User => flowgate_redis::Key::Owned {
                user: user_id,
                name: key,
            },
        }
    }
}

use crate::store::redacted as redacted_url;

/// A whole number of 1 or more from the environment variable `name`, if set.
fn positive(name: &str) -> anyhow::Result<Option<usize>> {
    whole(name, 1)
}

/// A whole number of `least` or more from the environment variable `name`, if set.
fn whole(name: &str, least: usize) -> anyhow::Result<Option<usize>> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(value) => value
            .trim()
            .parse()
            .ok()
            .filter(|&n: &usize| n >= least)
            .map(Some)
            .ok_or_else(|| {
                anyhow::anyhow!("{name} {value:?} must be a whole number, {least} or more")
            }),
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |secret: &Option<String>| secret.as_ref().map(|_| "<hidden>");
        f.debug_struct("ServerConfig")
            .field("database_url", &redacted_url(&self.database_url))
            .field("console_dir", &self.console_dir)
            .field("public_origin", &self.public_origin)
            .field("admin_password", &hidden(&self.admin_password))
            .field("initial_limits", &self.initial_limits)
            .field("api_limits", &self.api_limits)
            .field("login_limits", &self.login_limits)
            .field("session_ttl", &self.session_ttl)
            .field("secret_key", &hidden(&self.secret_key))
            .field("workers", &self.workers)
            .field(
                "redis",
                &self
                    .redis
                    .as_ref()
                    .map(|r| (redacted_url(&r.url), r.failure, r.timeout)),
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .field("password_queue", &self.password_queue)
            .field("max_keys", &self.max_keys)
            .field("key_namespace", &self.key_namespace)
            .field("metrics_addr", &self.metrics_addr)
            .field("max_live_tasks", &self.max_live_tasks)
            .field("max_open_tasks", &self.max_open_tasks)
            .field("max_operations", &self.max_operations)
            .field("max_connections", &self.max_connections)
            .field("request_timeout", &self.request_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("max_streams_per_user", &self.max_streams_per_user)
            .field("sync", &self.sync)
            .finish()
    }
}

/// Where the shared buckets are and what happens without them.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://…`
    pub url: String,
    /// What a decision is while Redis is unreachable.
    pub failure: FailureMode,
    /// How long a decision waits for Redis.
    pub timeout: Duration,
}

impl RedisConfig {
    /// Redis at `url` with the default failure mode (`local`) and timeout (50 ms).
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            failure: FailureMode::Local,
            timeout: Duration::from_millis(50),
        }
    }

    /// `FLOWGATE_REDIS_URL`, `FLOWGATE_REDIS_FAILURE` and `FLOWGATE_REDIS_TIMEOUT_MS` from
    /// `var` (the environment); none without a URL.
    ///
    /// # Errors
    /// Names the variable that is malformed.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let failure = var("FLOWGATE_REDIS_FAILURE");
        let timeout = var("FLOWGATE_REDIS_TIMEOUT_MS");
        let Some(url) = var("FLOWGATE_REDIS_URL") else {
            if failure.is_some() || timeout.is_some() {
                anyhow::bail!(
                    "FLOWGATE_REDIS_FAILURE and FLOWGATE_REDIS_TIMEOUT_MS need FLOWGATE_REDIS_URL"
                );
            }
            return Ok(None);
        };
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            anyhow::bail!("FLOWGATE_REDIS_URL {url:?} must start with redis:// or rediss://");
        }
        let mut config = RedisConfig::new(url);
        if let Some(mode) = failure {
            config.failure = mode
                .parse()
                .map_err(|e| anyhow::anyhow!("FLOWGATE_REDIS_FAILURE: {e}"))?;
        }
        if let Some(ms) = timeout {
            let ms: u64 = ms
                .parse()
                .ok()
                .filter(|&ms| ms > 0)
                .ok_or_else(|| {
                    anyhow::anyhow!("FLOWGATE_REDIS_TIMEOUT_MS {ms:?} must be a whole number of milliseconds, 1 or more")
                })?;
            config.timeout = Duration::from_millis(ms);
        }
        Ok(Some(config))
    }
}

/// The default limits of the server's own API per client: generous for a console and a few
/// workers, a wall for a runaway loop.
pub fn default_api_limits() -> RateLimitConfig {
    RateLimitConfig {
        requests_per_minute: 1_200,
        requests_per_hour: 30_000,
        requests_per_day: 300_000,
        max_burst: 200,
        ..RateLimitConfig::default()
    }
}

/// The default limits of login attempts per client address.
pub fn default_login_limits() -> RateLimitConfig {
    RateLimitConfig {
        requests_per_minute: 10,
        requests_per_hour: 60,
        requests_per_day: 500,
        max_burst: 5,
        ..RateLimitConfig::default()
    }
}

/// Four connection workers per core. A worker cannot hand its connections to another, so while
/// the system runs something else on its core (the clients asking for decisions, often on the
/// same machine) they all wait. The more workers, the fewer connections each holds up, and the
/// more turns of the core they share; the more workers, also, the less each read and write
/// carries. On the 2-core machine with wrk beside the server, two workers per core made the
/// most decisions per second and had the worst p99; four per core made more than one
/// work-stealing runtime, with a p99 as low most of the time; eight per core made no more and
/// no better tail than four (BENCHMARKS.md, "The decision service over HTTP").
pub fn default_workers() -> usize {
    4 * std::thread::available_parallelism().map_or(1, usize::from)
}

impl ServerConfig {
    /// A configuration for `database_url` with every default: what tests start from.
    pub fn new(database_url: impl Into<String>) -> Self {
        ServerConfig {
            database_url: database_url.into(),
            console_dir: PathBuf::from("dist"),
            public_origin: None,
            admin_password: None,
            initial_limits: RateLimitConfig::default(),
            api_limits: default_api_limits(),
            login_limits: default_login_limits(),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            secret_key: None,
            workers: default_workers(),
            redis: None,
            trusted_proxies: flowgate_tower::TrustedProxies::default(),
            password_queue: 32,
            max_keys: 1_000_000,
            max_live_tasks: 100_000,
            max_open_tasks: 1_000,
            max_operations: 10_000,
            max_connections: 10_000,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            max_streams_per_user: 32,
            sync: crate::store::Sync::Normal,
            key_namespace: KeyNamespace::Global,
            metrics_addr: None,
        }
    }

    /// The configuration from the command line and the environment.
    ///
    /// # Errors
    /// Names the variable when one is malformed.
    pub fn from_args_and_env(args: &Args) -> anyhow::Result<Self> {
        let mut config = ServerConfig::new(args.database_url.clone());
        config.console_dir = args.console_dir.clone();
        if let Some(workers) = args.workers {
            config.workers = workers.get();
        }
        config.public_origin = args
            .public_origin
            .as_deref()
            .map(|o| o.trim_end_matches('/').to_string());
        config.admin_password = std::env::var("FLOWGATE_ADMIN_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        config.secret_key = std::env::var("FLOWGATE_SECRET_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        config.redis =
            RedisConfig::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))?;
        config.max_keys = positive("FLOWGATE_MAX_KEYS")?.unwrap_or(config.max_keys);
        config.max_operations =
            positive("FLOWGATE_MAX_OPERATIONS")?.unwrap_or(config.max_operations);
        config.sync = match std::env::var("FLOWGATE_SYNC").ok().as_deref() {
            None | Some("normal") => crate::store::Sync::Normal,
            Some("full") => crate::store::Sync::Full,
            Some(other) => {
                anyhow::bail!("FLOWGATE_SYNC {other:?} must be normal or full")
            }
        };
        config.metrics_addr = match std::env::var("FLOWGATE_METRICS_ADDR") {
            Ok(addr) if !addr.is_empty() => Some(addr.parse().with_context(|| {
                format!("FLOWGATE_METRICS_ADDR {addr:?} is not an address such as 127.0.0.1:9090")
            })?),
            _ => None,
        };
        config.key_namespace = match std::env::var("FLOWGATE_KEY_NAMESPACE").ok().as_deref() {
            None | Some("global") => KeyNamespace::Global,
            Some("user") => KeyNamespace::User,
            Some(other) => {
                anyhow::bail!("FLOWGATE_KEY_NAMESPACE {other:?} must be global or user")
            }
        };
        config.max_connections =
            positive("FLOWGATE_MAX_CONNECTIONS")?.unwrap_or(config.max_connections);
        config.max_streams_per_user =
            positive("FLOWGATE_MAX_STREAMS_PER_USER")?.unwrap_or(config.max_streams_per_user);
        if let Some(s) = positive("FLOWGATE_REQUEST_TIMEOUT_S")? {
            config.request_timeout = Duration::from_secs(s as u64);
        }
        if let Some(s) = positive("FLOWGATE_SHUTDOWN_GRACE_S")? {
            config.shutdown_grace = Duration::from_secs(s as u64);
        }
        config.max_live_tasks =
            positive("FLOWGATE_MAX_LIVE_TASKS")?.unwrap_or(config.max_live_tasks);
        config.max_open_tasks =
            positive("FLOWGATE_MAX_OPEN_TASKS")?.map_or(config.max_open_tasks, |n| n as u64);
        config.password_queue =
            whole("FLOWGATE_PASSWORD_QUEUE", 0)?.unwrap_or(config.password_queue);
        if let Ok(list) = std::env::var("FLOWGATE_TRUSTED_PROXIES") {
            config.trusted_proxies =
                flowgate_tower::TrustedProxies::parse(&list).context("FLOWGATE_TRUSTED_PROXIES")?;
        }
        config.initial_limits = RateLimitConfig::from_env("RATE_LIMIT").context("RATE_LIMIT_*")?;
        config.api_limits = default_api_limits()
            .with_env("FLOWGATE_API")
            .context("FLOWGATE_API_*")?;
        config.login_limits = default_login_limits()
            .with_env("FLOWGATE_LOGIN")
            .context("FLOWGATE_LOGIN_*")?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_shows_no_secret() {
        let mut config = ServerConfig::new("postgres://flowgate:db-password@db/flowgate");
        config.admin_password = Some("admin-password".into());
        config.secret_key = Some("platform-token-key".into());
        config.redis = Some(RedisConfig {
            url: "redis://:redis-password@cache:6379".into(),
            failure: FailureMode::Local,
            timeout: Duration::from_millis(50),
        });
        let shown = format!("{config:?}");
        for secret in [
            "db-password",
            "admin-password",
            "platform-token-key",
            "redis-password",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("postgres://flowgate:***@db/flowgate"),
            "{shown}"
        );
    }

    fn redis(vars: &[(&str, &str)]) -> anyhow::Result<Option<RedisConfig>> {
        RedisConfig::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_string())
        })
    }

    #[test]
    fn redis_settings_name_the_variable_that_is_wrong() {
        assert!(redis(&[]).unwrap().is_none());
        let c = redis(&[("FLOWGATE_REDIS_URL", "redis://h:1")])
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.failure, c.timeout),
            (FailureMode::Local, Duration::from_millis(50))
        );
        let c = redis(&[
            ("FLOWGATE_REDIS_URL", "redis://h:1"),
            ("FLOWGATE_REDIS_FAILURE", "closed"),
            ("FLOWGATE_REDIS_TIMEOUT_MS", "20"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (c.failure, c.timeout),
            (FailureMode::Closed, Duration::from_millis(20))
        );
        for (vars, named) in [
            (
                &[("FLOWGATE_REDIS_URL", "http://h")][..],
                "FLOWGATE_REDIS_URL",
            ),
            (
                &[
                    ("FLOWGATE_REDIS_URL", "redis://h"),
                    ("FLOWGATE_REDIS_FAILURE", "maybe"),
                ],
                "FLOWGATE_REDIS_FAILURE",
            ),
            (
                &[
                    ("FLOWGATE_REDIS_URL", "redis://h"),
                    ("FLOWGATE_REDIS_TIMEOUT_MS", "0"),
                ],
                "FLOWGATE_REDIS_TIMEOUT_MS",
            ),
            (&[("FLOWGATE_REDIS_FAILURE", "open")], "FLOWGATE_REDIS_URL"),
        ] {
            let e = redis(vars).unwrap_err().to_string();
            assert!(e.contains(named), "{vars:?}: {e}");
        }
    }
}
