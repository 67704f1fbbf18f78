//! `flowgate-server migrate-to <url>`: copies everything a database holds into another, empty
//! one (from the embedded SQLite file to the PostgreSQL of several servers), keeping every id,
//! so that tokens, sessions, task ids and links between rows all stay valid.

use anyhow::Context as _;
use sqlx::{Row as _, postgres::PgRow, sqlite::SqliteRow};

use super::{BeginWrite as _, Store, with_pool};

/// A column's kind, as both backends' migrations give it.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Real,
    Bool,
    Text,
    Bytes,
}

/// Every table, parents before children, with its columns.
const TABLES: &[(&str, &[(&str, Kind)])] = {
    use Kind::{Bool, Bytes, Int, Real, Text};
    &[
        (
            "users",
            &[
                ("id", Int),
                ("username", Text),
                ("password_hash", Text),
                ("role", Text),
                ("is_active", Bool),
                ("created_at", Text),
            ],
        ),
        (
            "sessions",
            &[
                ("id_hash", Bytes),
                ("user_id", Int),
                ("created_at", Text),
                ("expires_at", Int),
            ],
        ),
        (
            "api_tokens",
            &[
                ("id", Int),
                ("user_id", Int),
                ("name", Text),
                ("token_hash", Bytes),
                ("created_at", Text),
            ],
        ),
        (
            "limits_versions",
            &[
                ("version", Int),
                ("document", Text),
                ("changed_by", Text),
                ("changed_at", Text),
            ],
        ),
        (
            "retry_policy_versions",
            &[
                ("version", Int),
                ("document", Text),
                ("changed_by", Text),
                ("changed_at", Text),
            ],
        ),
        (
            "retry_stats",
            &[("operation", Text), ("stats", Text), ("updated_at", Text)],
        ),
        ("settings", &[("name", Text), ("value", Bytes)]),
        (
            "platform_connections",
            &[
                ("id", Int),
                ("user_id", Int),
                ("name", Text),
                ("platform_type", Text),
                ("instance_url", Text),
                ("username", Text),
                ("access_token_enc", Bytes),
                ("is_active", Bool),
                ("is_default", Bool),
                ("created_at", Text),
                ("updated_at", Text),
            ],
        ),
        (
            "contexts",
            &[
                ("owner", Text),
                ("user_id", Int),
                ("platform_connection_id", Int),
                ("updated_at", Text),
            ],
        ),
        (
            "tasks",
            &[
                ("id", Text),
                ("user_id", Int),
                ("platform_connection_id", Int),
                ("settings", Text),
                ("status", Text),
                ("progress_percent", Int),
                ("current_step", Text),
                ("details", Text),
                ("seq", Int),
                ("eta_seconds", Real),
                ("error_message", Text),
                ("created_at", Text),
                ("started_at", Text),
                ("updated_at", Text),
                ("completed_at", Text),
            ],
        ),
        (
            "posts",
            &[
                ("id", Int),
                ("user_id", Int),
                ("platform_connection_id", Int),
                ("platform_type", Text),
                ("instance_url", Text),
                ("post_id", Text),
                ("url", Text),
                ("content", Text),
                ("image_count", Int),
                ("created_at", Text),
            ],
        ),
    ]
};

/// The tables whose `id` is generated, whose sequence must continue after the copied ids.
const GENERATED_IDS: &[&str] = &["users", "api_tokens", "platform_connections", "posts"];

/// One value of one column.
#[derive(Debug, Clone)]
enum Value {
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

macro_rules! read_row {
    ($row:expr, $columns:expr) => {{
        let row = $row;
        $columns
            .iter()
            .map(|&(name, kind)| {
                Ok(match kind {
                    Kind::Int => Value::Int(row.try_get(name)?),
                    Kind::Real => Value::Real(row.try_get(name)?),
                    Kind::Bool => Value::Bool(row.try_get(name)?),
                    Kind::Text => Value::Text(row.try_get(name)?),
                    Kind::Bytes => Value::Bytes(row.try_get(name)?),
                })
            })
            .collect::<Result<Vec<Value>, sqlx::Error>>()
    }};
}

fn read_sqlite(row: &SqliteRow, columns: &[(&str, Kind)]) -> Result<Vec<Value>, sqlx::Error> {
    read_row!(row, columns)
}

fn read_postgres(row: &PgRow, columns: &[(&str, Kind)]) -> Result<Vec<Value>, sqlx::Error> {
    read_row!(row, columns)
}

/// How many rows each table held.
pub type Copied = Vec<(&'static str, u64)>;

/// Copies every row of `from` into `to`, which must hold no rows yet (a new database, migrated
/// by [`Store::open`]). All or nothing: one transaction on `to`.
///
/// # Errors
/// When `to` holds rows already, or either database fails; `to` is unchanged then.
pub async fn copy(from: &Store, to: &Store) -> anyhow::Result<Copied> {
    let mut rows_by_table = Vec::new();
    for &(table, columns) in TABLES {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let sql = format!("SELECT {} FROM {table}", names.join(", "));
        let rows: Vec<Vec<Value>> = match from {
            Store::Sqlite(pool) => sqlx::query(&sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| read_sqlite(r, columns))
                .collect::<Result<_, _>>(),
            Store::Postgres(pool) => sqlx::query(&sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| read_postgres(r, columns))
                .collect::<Result<_, _>>(),
        }
        .with_context(|| format!("reading {table}"))?;
        rows_by_table.push((table, names, rows));
    }
    with_pool!(to, pool => {
        let mut tx = pool.begin_write().await?;
        for &(table, _) in TABLES {
            let held: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&mut *tx)
                .await?;
            if held > 0 {
                anyhow::bail!(
                    "the target database already holds data ({held} rows in {table}); \
                     migrate-to copies into an empty database only"
                );
            }
        }
        let mut copied = Vec::new();
        for (table, names, rows) in &rows_by_table {
            let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                placeholders.join(", ")
            );
            for row in rows {
                let mut insert = sqlx::query(&sql);
                for value in row {
                    insert = match value.clone() {
                        Value::Int(v) => insert.bind(v),
                        Value::Real(v) => insert.bind(v),
                        Value::Bool(v) => insert.bind(v),
                        Value::Text(v) => insert.bind(v),
                        Value::Bytes(v) => insert.bind(v),
                    };
                }
                insert
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("writing {table}"))?;
            }
            copied.push((*table, rows.len() as u64));
        }
        if matches!(to, Store::Postgres(_)) {
            // New rows get ids after the copied ones.
            for table in GENERATED_IDS {
                sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                ))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(copied)
    })
}
