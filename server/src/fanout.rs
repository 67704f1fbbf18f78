//! Who hears a change: with several servers on one PostgreSQL database, a change one server
//! makes (limits, retry policy, a revoked token or session, a deactivated user, a progress
//! update) reaches every other one by `LISTEN/NOTIFY` on the channel `flowgate`.
//!
//! PostgreSQL is the store of record, so notices keep travelling while Redis (which holds only
//! buckets) is down. A notice carries ids only, never a document or a secret (payloads are
//! capped at 8,000 bytes, and they are visible to anyone who may `LISTEN`); the receiver
//! re-reads what changed. A server also hears its own notices, which changes nothing.
//!
//! Notices are sent after the change commits. One lost with a connection is made up for when
//! the listener reconnects: it then reloads everything a notice could have named.
//!
//! With SQLite there is one server, which changed its own state already: nothing is sent.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::state::AppState;
use crate::store::Store;

/// The channel every server listens on.
const CHANNEL: &str = "flowgate";

/// A change another server must hear of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A new version of the limits.
    Limits,
    /// A new version of the retry policy.
    RetryPolicy,
    /// A user's tokens, sessions, role or standing changed: forget their cached sign-ins.
    User(i64),
    /// A session ended (by the SHA-256 of its cookie).
    Session([u8; 32]),
    /// A task's progress changed.
    Task(String),
}

impl Notice {
    /// The notice as its payload.
    fn payload(&self) -> String {
        match self {
            Notice::Limits => "limits".into(),
            Notice::RetryPolicy => "retry_policy".into(),
            Notice::User(id) => format!("user:{id}"),
            Notice::Session(hash) => format!("session:{}", hex::encode(hash)),
            Notice::Task(id) => format!("task:{id}"),
        }
    }

    /// The notice a payload carries, if it is one.
    fn parse(payload: &str) -> Option<Notice> {
        match payload.split_once(':') {
            None => match payload {
                "limits" => Some(Notice::Limits),
                "retry_policy" => Some(Notice::RetryPolicy),
                _ => None,
            },
            Some(("user", id)) => id.parse().ok().map(Notice::User),
            Some(("session", hash)) => {
                let bytes = hex::decode(hash).ok()?;
                bytes.try_into().ok().map(Notice::Session)
            }
            Some(("task", id)) => uuid::Uuid::try_parse(id)
                .ok()
                .map(|_| Notice::Task(id.to_string())),
            Some(_) => None,
        }
    }
}

/// Sends notices, when there is anyone else to hear them.
#[derive(Debug, Clone)]
pub enum Fanout {
    /// One server: nobody to tell.
    Alone,
    /// PostgreSQL's `NOTIFY`.
    Postgres(PgPool),
}

impl Fanout {
    /// The fan-out that suits `store`.
    pub fn for_store(store: &Store) -> Fanout {
        match store {
            Store::Sqlite(_) => Fanout::Alone,
            Store::Postgres(pool) => Fanout::Postgres(pool.clone()),
        }
    }

    /// Tells the other servers of `notice`. A failure is logged, not returned: the change is
    /// committed, and the others reload everything when their listener reconnects.
    pub async fn notify(&self, notice: Notice) {
        let Fanout::Postgres(pool) = self else {
            return;
        };
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(notice.payload())
            .execute(pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, notice = ?notice, "could not tell the other servers");
        }
    }
}

/// Listens for other servers' notices and applies them, until the server stops. Returns at
/// once with SQLite.
pub(crate) async fn listen(state: AppState) {
    let Store::Postgres(pool) = &state.store else {
        return;
    };
    let mut stopping = state.shutdown.subscribe();
    let mut listener: Option<PgListener> = None;
    loop {
        let Some(active) = listener.as_mut() else {
            match PgListener::connect_with(pool).await {
                Ok(mut fresh) => match fresh.listen(CHANNEL).await {
                    Ok(()) => {
                        listener = Some(fresh);
                        // Whatever was said while nobody listened.
                        reload_everything(&state).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not listen for other servers' changes")
                    }
                },
                Err(e) => tracing::warn!(error = %e, "could not listen for other servers' changes"),
            }
            if listener.is_none() {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopping.wait_for(|s| *s) => return,
                }
            }
            continue;
        };
        let received = tokio::select! {
            received = active.try_recv() => received,
            _ = stopping.wait_for(|s| *s) => return,
        };
        match received {
            Ok(Some(notification)) => match Notice::parse(notification.payload()) {
                Some(notice) => apply(&state, notice).await,
                None => tracing::debug!(payload = notification.payload(), "unknown notice"),
            },
            // The connection was lost: connect again, and once listening, reload what was said
            // meanwhile.
            Ok(None) => {
                tracing::warn!(
                    "lost the connection that hears other servers' changes; reconnecting"
                );
                listener = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "hearing other servers' changes failed; reconnecting");
                listener = None;
            }
        }
    }
}

/// Applies one notice.
async fn apply(state: &AppState, notice: Notice) {
    let done = match &notice {
        Notice::Limits => state
            .limits
            .refresh(&state.store, |config| {
                state
                    .decisions
                    .reconfigure(config, state.now())
                    .map_err(|e| anyhow::anyhow!("the stored limits: {e}"))
            })
            .await
            .map(|changed| {
                if changed {
                    tracing::info!("limits changed by another server");
                }
            }),
        Notice::RetryPolicy => state
            .retry_policy
            .refresh(&state.store, |_| Ok(()))
            .await
            .map(drop),
        Notice::User(id) => {
            state.auth_cache.forget_user(*id);
            Ok(())
        }
        Notice::Session(hash) => {
            state.auth_cache.forget_session(hash);
            Ok(())
        }
        Notice::Task(id) => state
            .live
            .reload(&state.store, id)
            .await
            .map_err(|e| anyhow::anyhow!("task {id}: {e:?}")),
    };
    if let Err(e) = done {
        tracing::warn!(error = format!("{e:#}"), notice = ?notice, "could not apply another server's change");
    }
}

/// Everything a lost notice could have named, read again.
async fn reload_everything(state: &AppState) {
    apply(state, Notice::Limits).await;
    apply(state, Notice::RetryPolicy).await;
    state.auth_cache.forget_all();
    for id in state.live.watched() {
        apply(state, Notice::Task(id)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_travel_as_ids_and_come_back_the_same() {
        for notice in [
            Notice::Limits,
            Notice::RetryPolicy,
            Notice::User(42),
            Notice::Session([7; 32]),
            Notice::Task("6f1c0a8e-3c1b-4d8e-9a57-3b7f5d2c9e10".into()),
        ] {
            let payload = notice.payload();
            assert!(payload.len() < 100, "{payload}");
            assert_eq!(Notice::parse(&payload), Some(notice));
        }
        for junk in ["", "user:x", "session:zz", "task:../x", "limits:1", "other"] {
            assert_eq!(Notice::parse(junk), None, "{junk:?}");
        }
    }
}
