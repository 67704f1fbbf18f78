//! Versioned documents (the limits, the retry policy): every version is stored with who made
//! it and when; the newest is in force; a change may name the version it replaces
//! (`If-Match`).

use std::sync::{PoisonError, RwLock};

use anyhow::Context as _;
use axum::http::HeaderMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::SqlitePool;

use crate::db;
use crate::error::ApiError;
use crate::routes::check_if_match;

/// A document and its version (1 for the first stored; 0 for a default never stored).
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    /// The document.
    pub document: T,
    /// Its version.
    pub version: i64,
}

/// A versioned document kept in `table` (`version`, `document`, `changed_by`, `changed_at`).
#[derive(Debug)]
pub struct Versions<T> {
    table: &'static str,
    // A std lock for reads on every request; changes are ordered by `writer`, which is held
    // across the database write and so is tokio's.
    current: RwLock<Versioned<T>>,
    writer: tokio::sync::Mutex<()>,
}

impl<T: Clone + Serialize + DeserializeOwned> Versions<T> {
    /// The newest version stored in `table`; when there is none, `when_empty` gives the
    /// document and, if it should be stored as version 1, by whom.
    ///
    /// # Errors
    /// When the database fails or holds a version that no longer reads.
    pub async fn load(
        db: &SqlitePool,
        table: &'static str,
        when_empty: impl FnOnce() -> (T, Option<&'static str>),
    ) -> anyhow::Result<Versions<T>> {
        let row: Option<(i64, String)> = sqlx::query_as(&format!(
            "SELECT version, document FROM {table} ORDER BY version DESC LIMIT 1"
        ))
        .fetch_optional(db)
        .await?;
        let current = match row {
            Some((version, text)) => Versioned {
                document: serde_json::from_str(&text)
                    .with_context(|| format!("{table} version {version}"))?,
                version,
            },
            None => {
                let (document, by) = when_empty();
                match by {
                    Some(by) => {
                        insert(db, table, 1, &document, by).await?;
                        Versioned {
                            document,
                            version: 1,
                        }
                    }
                    None => Versioned {
                        document,
                        version: 0,
                    },
                }
            }
        };
        Ok(Versions {
            table,
            current: RwLock::new(current),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// The version in force.
    pub fn current(&self) -> Versioned<T> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stores `document` as the next version, by `by`, if the request's `If-Match` names the
    /// version in force (or is absent); then `apply` puts it to use and it becomes current.
    /// Returns the new version.
    ///
    /// # Errors
    /// 412 for a stale `If-Match`; what `apply` says; a database failure. On error the version
    /// in force is unchanged.
    pub async fn replace(
        &self,
        db: &SqlitePool,
        headers: &HeaderMap,
        by: &str,
        document: T,
        apply: impl FnOnce(&T) -> Result<(), ApiError>,
    ) -> Result<i64, ApiError> {
        let _writer = self.writer.lock().await;
        let version = self.current().version;
        check_if_match(headers, version)?;
        insert(db, self.table, version + 1, &document, by).await?;
        apply(&document)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Versioned {
            document,
            version: version + 1,
        };
        Ok(version + 1)
    }
}

async fn insert<T: Serialize>(
    db: &SqlitePool,
    table: &str,
    version: i64,
    document: &T,
    by: &str,
) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO {table} (version, document, changed_by, changed_at) VALUES (?, ?, ?, ?)"
    ))
    .bind(version)
    .bind(serde_json::to_string(document)?)
    .bind(by)
    .bind(db::now_rfc3339())
    .execute(db)
    .await?;
    Ok(())
}
