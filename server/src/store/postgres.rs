//! PostgreSQL, for several servers sharing one database: a pool, migrated at start.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Opens a pool on the database at `url` and applies the migrations (each server runs them at
/// start; sqlx takes an advisory lock, so two servers starting at once apply them once).
pub(super) async fn open(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("FLOWGATE_DATABASE_URL {url:?} is not a PostgreSQL URL"))?
        .application_name("flowgate");
    let pool = PgPoolOptions::new()
        .max_connections(16)
        // A request waits this long for a connection before it fails with 503 (and /readyz
        // says the database is down), rather than hanging while PostgreSQL is unreachable.
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to the database {}", redacted(url)))?;
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// `url` without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redacted("postgres://fg:secret@db:5432/flowgate"),
            "postgres://fg:***@db:5432/flowgate"
        );
        assert_eq!(
            redacted("postgres://fg@db/flowgate"),
            "postgres://fg@db/flowgate"
        );
        assert_eq!(redacted("postgres://db/x"), "postgres://db/x");
    }
}
