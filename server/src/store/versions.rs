//! The tables of versioned documents (the limits, the retry policy): every version with who
//! made it and when.

use super::{Store, is_unique_violation, with_pool};

/// A table of versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// The limits document.
    Limits,
    /// The retry policy.
    RetryPolicy,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Limits => "limits_versions",
            Table::RetryPolicy => "retry_policy_versions",
        }
    }
}

/// One stored version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    /// Its number (1 for the first).
    pub version: i64,
    /// The document as JSON.
    pub document: String,
    /// Who stored it.
    pub changed_by: String,
    /// When.
    pub changed_at: String,
}

/// The versions area of the store.
#[derive(Debug, Clone, Copy)]
pub struct VersionTables<'a>(pub(super) &'a Store);

impl VersionTables<'_> {
    /// The newest version in `table`, if any.
    pub async fn latest(&self, table: Table) -> Result<Option<VersionRow>, sqlx::Error> {
        let sql = format!(
            "SELECT version, document, changed_by, changed_at FROM {} ORDER BY version DESC LIMIT 1",
            table.name()
        );
        with_pool!(self.0, pool => sqlx::query_as(&sql).fetch_optional(pool).await)
    }

    /// The newest `limit` versions, newest first.
    pub async fn history(&self, table: Table, limit: i64) -> Result<Vec<VersionRow>, sqlx::Error> {
        let sql = format!(
            "SELECT version, document, changed_by, changed_at FROM {} ORDER BY version DESC LIMIT $1",
            table.name()
        );
        with_pool!(self.0, pool => sqlx::query_as(&sql).bind(limit).fetch_all(pool).await)
    }

    /// Stores `row` as its version; `false` when that version exists already (another server,
    /// or another request, stored it first).
    pub async fn insert(&self, table: Table, row: &VersionRow) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "INSERT INTO {} (version, document, changed_by, changed_at) VALUES ($1, $2, $3, $4)",
            table.name()
        );
        let done = with_pool!(self.0, pool => {
            sqlx::query(&sql)
                .bind(row.version)
                .bind(&row.document)
                .bind(&row.changed_by)
                .bind(&row.changed_at)
                .execute(pool)
                .await
                .map(drop)
        });
        match done {
            Ok(()) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
