//! The overview, the console's start page: what an operator looks at first. It asks the server
//! every two seconds (`GET /api/v1/overview`); decisions per second and the share denied are
//! the change between two answers over the time between them.

use flowgate_core::api::Overview;
use leptos::prelude::*;

use crate::api;
use crate::widgets::{every, load_state};

/// How often the overview is asked for.
const POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Decisions per second and the share of them denied between two answers.
fn rates(before: &Overview, now: &Overview) -> Option<(f64, f64)> {
    let seconds = now.uptime - before.uptime;
    let decided = (now.allowed + now.denied).checked_sub(before.allowed + before.denied)?;
    let denied = now.denied.checked_sub(before.denied)?;
    (seconds > 0.0).then(|| {
        let share = if decided == 0 {
            0.0
        } else {
            denied as f64 / decided as f64
        };
        (decided as f64 / seconds, share)
    })
}

/// One figure with its caption.
#[component]
fn Figure(
    /// What it is.
    caption: &'static str,
    /// Its value, as shown.
    value: Signal<String>,
    /// What kind of figure (its class, for the tests and the styles).
    kind: &'static str,
) -> impl IntoView {
    view! {
        <div class=format!("figure {kind}") role="group" aria-label=caption>
            <span class="value">{move || value.get()}</span>
            <span class="caption">{caption}</span>
        </div>
    }
}

/// The overview screen (admins only: it shows every user's keys).
#[component]
pub fn OverviewScreen(
    /// Whether the signed-in user is an admin.
    admin: bool,
) -> impl IntoView {
    if !admin {
        return view! {
            <section class="screen overview">
                <h1>"Overview"</h1>
                <p class="meta">"The overview of every user's traffic is for admins."</p>
            </section>
        }
        .into_any();
    }
    let overview = LocalResource::new(|| api::get::<Overview>("/api/v1/overview"));
    every(POLL, move || overview.refetch());
    // The answer before the last, for the rates between the two.
    let (latest, set_latest) = signal(None::<Overview>);
    let (rate, set_rate) = signal(None::<(f64, f64)>);
    Effect::new(move || {
        if let Some(Ok(answer)) = overview.get() {
            let now = answer.body;
            if let Some(r) = latest
                .get_untracked()
                .and_then(|before| rates(&before, &now))
            {
                set_rate.set(Some(r));
            }
            set_latest.set(Some(now));
        }
    });
    let figure = move |f: fn(&Overview) -> String| {
        Signal::derive(move || latest.get().as_ref().map_or_else(|| "…".to_string(), f))
    };
    view! {
        <section class="screen overview">
            <h1>"Overview"</h1>
            {load_state(overview)}
            <div class="figures">
                <Figure caption="decisions per second" kind="rate"
                        value=Signal::derive(move || rate.get().map_or_else(|| "…".into(), |(r, _)| format!("{r:.1}")))/>
                <Figure caption="denied" kind="share-denied"
                        value=Signal::derive(move || rate.get().map_or_else(|| "…".into(), |(_, s)| format!("{:.1} %", s * 100.0)))/>
                <Figure caption="open tasks" kind="open-tasks" value=figure(|o| o.open_tasks.to_string())/>
                <Figure caption="live subscribers" kind="subscribers" value=figure(|o| o.sse_subscribers.to_string())/>
                <Figure caption="live keys" kind="live-keys"
                        value=figure(|o| o.live_keys.map_or_else(|| "in Redis".into(), |n| n.to_string()))/>
                <Figure caption="decisions since start" kind="total"
                        value=figure(|o| (o.allowed + o.denied).to_string())/>
            </div>
            <div class="columns">
                <section aria-label="Denials by scope and window">
                    <h2>"Denials by scope and window"</h2>
                    {move || match latest.get().map(|o| o.denials).filter(|d| !d.is_empty()) {
                        None => view! { <p class="meta">"None since the server started."</p> }.into_any(),
                        Some(rows) => view! {
                            <table class="denials">
                                <thead><tr><th>"Scope"</th><th>"Window"</th><th class="n">"Denied"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|d| view! {
                                        <tr><td>{d.scope.as_str()}</td><td>{d.window.as_str()}</td><td class="n">{d.count}</td></tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }}
                </section>
                <section aria-label="Keys denied most">
                    <h2>"Keys denied most, last 5 minutes"</h2>
                    {move || match latest.get().map(|o| o.top_denied_keys).filter(|k| !k.is_empty()) {
                        None => view! { <p class="meta">"No key was denied in the last 5 minutes."</p> }.into_any(),
                        Some(rows) => view! {
                            <table class="top-keys">
                                <thead><tr><th>"Key"</th><th class="n">"Denied"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|k| view! {
                                        <tr><td class="key" title=k.key.clone()>{k.key.clone()}</td><td class="n">{k.denials}</td></tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }}
                </section>
            </div>
        </section>
    }
    .into_any()
}
