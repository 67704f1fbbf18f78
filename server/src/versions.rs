//! Versioned documents (the limits, the retry policy): every version is stored with who made
//! it and when; the newest is in force; a change may name the version it replaces
//! (`If-Match`). The database decides which change is next: two servers storing the same next
//! version meet on its primary key, and the second is refused as stale.

use std::sync::{PoisonError, RwLock};

use anyhow::Context as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::store::versions::{Table, VersionRow};
use crate::store::{self, Store};

/// A document and its version (1 for the first stored; 0 for a default never stored).
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    /// The document.
    pub document: T,
    /// Its version.
    pub version: i64,
}

/// A versioned document kept in one of the store's version tables.
#[derive(Debug)]
pub struct Versions<T> {
    table: Table,
    // A std lock for reads on every request; changes are ordered by `writer`, which is held
    // across the database write and so is tokio's.
    current: RwLock<Versioned<T>>,
    writer: tokio::sync::Mutex<()>,
}

fn parse<T: DeserializeOwned>(table: Table, row: &VersionRow) -> anyhow::Result<T> {
    serde_json::from_str(&row.document)
        .with_context(|| format!("{table:?} version {}", row.version))
}

impl<T: Clone + Serialize + DeserializeOwned> Versions<T> {
    /// The newest version stored in `table`; when there is none, `when_empty` gives the
    /// document and, if it should be stored as version 1, by whom.
    ///
    /// # Errors
    /// When the database fails or holds a version that no longer reads.
    pub async fn load(
        store: &Store,
        table: Table,
        when_empty: impl FnOnce() -> (T, Option<&'static str>),
    ) -> anyhow::Result<Versions<T>> {
        let current = match store.versions().latest(table).await? {
            Some(row) => Versioned {
                document: parse(table, &row)?,
                version: row.version,
            },
            None => {
                let (document, by) = when_empty();
                match by {
                    Some(by) => {
                        let first = row(1, &document, by)?;
                        // Another server starting on the same empty database may have stored
                        // its version 1 first: then that one is in force.
                        if store.versions().insert(table, &first).await? {
                            Versioned {
                                document,
                                version: 1,
                            }
                        } else {
                            let row = store
                                .versions()
                                .latest(table)
                                .await?
                                .context("version 1 vanished")?;
                            Versioned {
                                document: parse(table, &row)?,
                                version: row.version,
                            }
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

    /// Stores `document` as the next version, by `by`, if `precondition` admits the version
    /// stored last (the HTTP layer's `If-Match` check), and puts it in force. Everything that may refuse the
    /// change runs before it is stored: `prepare` readies it (builds what it puts to use) or
    /// refuses it; once stored, `install` puts what `prepare` made in force, and cannot fail. So
    /// the stored newest version is always the one in force. Returns the new version.
    ///
    /// # Errors
    /// What `precondition` says of the version stored last; 412 when another server stored a
    /// version meanwhile; what `prepare` says; a database failure. On error nothing is stored and the version in force
    /// is unchanged.
    pub async fn replace<P>(
        &self,
        store: &Store,
        precondition: impl FnOnce(i64) -> Result<(), ApiError>,
        by: &str,
        document: T,
        prepare: impl FnOnce(&T) -> Result<P, ApiError>,
        install: impl FnOnce(P, &T),
    ) -> Result<i64, ApiError> {
        let _writer = self.writer.lock().await;
        // The database's newest, not this server's: another server's change may not have
        // reached this one yet.
        let stored = store.versions().latest(self.table).await?;
        let version = stored
            .as_ref()
            .map_or(self.current().version, |r| r.version);
        precondition(version)?;
        let prepared = prepare(&document)?;
        if !store
            .versions()
            .insert(self.table, &row(version + 1, &document, by)?)
            .await?
        {
            return Err(ApiError::PreconditionFailed(format!(
                "the document changed meanwhile (version {} was stored by another request); \
                 reload and try again",
                version + 1
            )));
        }
        install(prepared, &document);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Versioned {
            document,
            version: version + 1,
        };
        Ok(version + 1)
    }

    /// Puts the newest stored version in force if it is newer than the one in force (another
    /// server stored it): `apply` puts it to use first. Returns whether it changed.
    ///
    /// # Errors
    /// A database failure, a stored version that no longer reads, or what `apply` says.
    pub async fn refresh(
        &self,
        store: &Store,
        apply: impl FnOnce(&T) -> anyhow::Result<()>,
    ) -> anyhow::Result<bool> {
        let _writer = self.writer.lock().await;
        let Some(row) = store.versions().latest(self.table).await? else {
            return Ok(false);
        };
        if row.version <= self.current().version {
            return Ok(false);
        }
        let document: T = parse(self.table, &row)?;
        apply(&document)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Versioned {
            document,
            version: row.version,
        };
        Ok(true)
    }
}

fn row<T: Serialize>(
    version: i64,
    document: &T,
    by: &str,
) -> Result<VersionRow, serde_json::Error> {
    Ok(VersionRow {
        version,
        document: serde_json::to_string(document)?,
        changed_by: by.to_string(),
        changed_at: store::now_rfc3339(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change its `prepare` refuses is not stored: the database and the server keep the
    /// version in force, so the two never disagree.
    #[tokio::test]
    async fn a_refused_change_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("v.db").display());
        let store = Store::open(&url).await.unwrap();
        let versions: Versions<serde_json::Value> =
            Versions::load(&store, Table::RetryPolicy, || {
                (serde_json::json!({"a": 1}), Some("test"))
            })
            .await
            .unwrap();
        let refused = versions
            .replace(
                &store,
                |_| Ok(()),
                "test",
                serde_json::json!({"a": 2}),
                |_| Err::<(), _>(ApiError::BadRequest("refused".into())),
                |(), _| unreachable!("a refused change is never put in force"),
            )
            .await;
        assert!(matches!(refused, Err(ApiError::BadRequest(_))));
        let stored = store
            .versions()
            .latest(Table::RetryPolicy)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.version, stored.document.as_str()),
            (1, r#"{"a":1}"#)
        );
        assert_eq!(versions.current().version, 1);

        let mut put_in_force = None;
        let version = versions
            .replace(
                &store,
                |_| Ok(()),
                "test",
                serde_json::json!({"a": 3}),
                |doc| Ok(doc["a"].as_i64()),
                |prepared, _| put_in_force = prepared,
            )
            .await
            .unwrap();
        assert_eq!((version, put_in_force), (2, Some(3)));
    }
}
