//! Keys: try a check, and watch a key's buckets refill. Between two polls of the server the
//! bars move by the core's own arithmetic (`BucketStatus::after`) from the server's state.

use std::time::Duration;

use flowgate_core::ratelimit::{BucketStatus, Scope, Window};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

use crate::api;
use crate::widgets::{Bar, Field};

/// A bucket as the server sends it (times in seconds).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct BucketJson {
    scope: String,
    window: String,
    limit: u32,
    capacity: u32,
    remaining: u32,
    reset_after: f64,
    retry_after: f64,
}

impl BucketJson {
    /// The core's form of the bucket, to project it forward in time.
    fn status(&self) -> Option<BucketStatus> {
        let scope = match self.scope.as_str() {
            "global" => Scope::Global,
            "platform" => Scope::Platform,
            "endpoint" => Scope::Endpoint,
            "platform_endpoint" => Scope::PlatformEndpoint,
            _ => return None,
        };
        let window = match self.window.as_str() {
            "minute" => Window::Minute,
            "hour" => Window::Hour,
            "day" => Window::Day,
            _ => return None,
        };
        Some(BucketStatus {
            scope,
            window,
            limit: self.limit,
            capacity: self.capacity,
            remaining: self.remaining,
            reset_after: Duration::try_from_secs_f64(self.reset_after).ok()?,
            retry_after: Duration::try_from_secs_f64(self.retry_after).ok()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct DecisionJson {
    allowed: bool,
    limit: u32,
    remaining: u32,
    retry_after: f64,
    reset_after: f64,
    scope: String,
    window: String,
    buckets: Vec<BucketJson>,
    /// Decided by the failure mode because the server could not reach Redis.
    #[serde(default)]
    degraded: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct KeyState {
    key: String,
    wait_time: f64,
    buckets: Vec<BucketJson>,
    /// Read from the failure mode's state because the server could not reach Redis.
    #[serde(default)]
    degraded: bool,
}

#[derive(Serialize)]
struct CheckBody {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    cost: u32,
}

fn now_ms() -> f64 {
    window()
        .performance()
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}

/// How often the key's state is fetched again.
const POLL: Duration = Duration::from_secs(5);
/// How often the bars are redrawn between polls.
const FRAME: Duration = Duration::from_millis(200);

/// The keys screen.
#[component]
pub fn KeysScreen(
    /// Whether the user may reset keys.
    admin: bool,
) -> impl IntoView {
    let key = RwSignal::new("user_123".to_string());
    let endpoint = RwSignal::new(String::new());
    let platform = RwSignal::new(String::new());
    let cost = RwSignal::new("1".to_string());
    let (decision, set_decision) = signal(None::<DecisionJson>);
    let (error, set_error) = signal(None::<api::ApiError>);
    // The key being watched: its state and when (page clock, ms) it was fetched.
    let (watched, set_watched) = signal(None::<(KeyState, f64)>);
    let (tick, set_tick) = signal(0.0f64);

    let name = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let fetch = move || {
        let k = key.get_untracked();
        if k.trim().is_empty() {
            return;
        }
        spawn_local(async move {
            match api::get::<KeyState>(&format!("/api/v1/limits/keys/{}", api::segment(&k))).await {
                Ok(a) => set_watched.set(Some((a.body, now_ms()))),
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let check = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let cost = match cost.get_untracked().trim().parse::<u32>() {
            Ok(c) => c,
            Err(_) => {
                set_error.set(Some(api::ApiError {
                    status: 0,
                    detail: "cost must be a whole number".into(),
                    errors: vec![flowgate_core::FieldError::new(
                        "/cost",
                        "must be a whole number, 1 or more",
                    )],
                }));
                return;
            }
        };
        let body = CheckBody {
            key: key.get_untracked(),
            endpoint: name(endpoint.get_untracked()),
            platform: name(platform.get_untracked()),
            cost,
        };
        spawn_local(async move {
            match api::post::<_, DecisionJson>("/api/v1/limits/check", &body).await {
                Ok(a) => {
                    set_error.set(None);
                    set_decision.set(Some(a.body));
                    fetch();
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let reset = move |_| {
        let k = key.get_untracked();
        spawn_local(async move {
            match api::delete(&format!("/api/v1/limits/keys/{}", api::segment(&k))).await {
                Ok(()) => fetch(),
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let poll = set_interval_with_handle(fetch, POLL).ok();
    let frame = set_interval_with_handle(move || set_tick.set(now_ms()), FRAME).ok();
    on_cleanup(move || {
        if let Some(h) = poll {
            h.clear();
        }
        if let Some(h) = frame {
            h.clear();
        }
    });
    let field_error = move |pointer| api::field_error(error, pointer);

    view! {
        <section class="screen keys">
            <h1>"Keys"</h1>
            <form class="check" on:submit=check aria-label="Check a request">
                <Field label="Key" name="key" value=key error=field_error("/key")/>
                <Field label="Endpoint" name="endpoint" value=endpoint error=field_error("/endpoint")/>
                <Field label="Platform" name="platform" value=platform error=field_error("/platform")/>
                <Field label="Cost" name="cost" value=cost error=field_error("/cost") kind="number"/>
                <div class="actions">
                    <button type="submit">"Check"</button>
                    <button type="button" class="secondary" on:click=move |_| fetch()>"Watch"</button>
                    <button type="button" class="danger" on:click=reset disabled=!admin
                            title=(!admin).then_some("Only admins reset keys")>"Reset key"</button>
                </div>
                {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <p class="error" role="alert">{e.detail}</p> })}
            </form>
            {move || decision.get().map(|d| view! {
                <div class="decision" class:allowed=d.allowed class:denied=!d.allowed role="status">
                    <strong>{if d.allowed { "Allowed" } else { "Denied" }}</strong>
                    " — binding bucket "{format!("{} {}", d.scope, d.window)}
                    ": "{d.remaining}" of "{d.limit}" left, full in "{format!("{:.3}", d.reset_after)}" s"
                    {(!d.allowed).then(|| format!("; retry in {:.3} s", d.retry_after))}
                    {d.degraded.then(|| view! {
                        <p class="degraded">"Decided without Redis, by the server's failure mode: the shared buckets were unreachable."</p>
                    })}
                </div>
                <table class="buckets">
                    <thead><tr><th>"Bucket"</th><th>"Limit"</th><th>"Remaining"</th><th>"Retry after (s)"</th></tr></thead>
                    <tbody>
                        {d.buckets.into_iter().map(|b| view! {
                            <tr><td>{format!("{} {}", b.scope, b.window)}</td><td>{b.limit}</td><td>{b.remaining}</td><td>{format!("{:.3}", b.retry_after)}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {move || watched.get().map(|(state, fetched_at)| view! {
                <h2>"Buckets of "<span class="name">{state.key.clone()}</span></h2>
                <p class="meta">{format!("wait time {:.3} s when fetched; refilling live, fetched again every {} s", state.wait_time, POLL.as_secs())}</p>
                {state.degraded.then(|| view! {
                    <p class="degraded">"Redis is unreachable: these are this server's own buckets of its failure mode, not the shared ones."</p>
                })}
                <ul class="bucket-bars">
                    {state.buckets.into_iter().filter_map(|b| b.status()).map(|b| {
                        let label = format!("{} {}", b.scope, b.window);
                        let now = move || {
                            let elapsed = ((tick.get() - fetched_at) / 1000.0).max(0.0);
                            b.after(Duration::from_secs_f64(elapsed))
                        };
                        view! {
                            <li>
                                <span class="bucket-name">{label.clone()}</span>
                                <Bar value=Signal::derive(move || f64::from(now().remaining)) max=Signal::derive(move || f64::from(b.capacity)) label=label/>
                                <span class="count">{move || format!("{} / {}", now().remaining, b.capacity)}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}
