//! Keys: try a check, and watch a key's buckets refill. Between two polls of the server the
//! bars move by the core's own arithmetic (`BucketStatus::after`) from the server's state.

use std::time::Duration;

use flowgate_core::api::{CheckRequest, Decision, KeyState};
use leptos::prelude::*;

use crate::api;
use crate::widgets::{Bar, Field, every, load_state};

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
    // The key whose buckets are shown, and its state with when (page clock, ms) it came.
    let watching = RwSignal::new(None::<String>);
    let state = LocalResource::new(move || {
        let key = watching.get();
        async move {
            let Some(key) = key else { return Ok(None) };
            let path = format!("/api/v1/limits/keys/{}", api::segment(&key));
            api::get::<KeyState>(&path)
                .await
                .map(|a| Some((a.body, now_ms())))
        }
    });
    every(POLL, move || {
        if watching.get_untracked().is_some() {
            state.refetch();
        }
    });
    // The last state read (kept while the next is fetched).
    let (last, set_last) = signal(None::<(KeyState, f64)>);
    Effect::new(move || {
        if let Some(Ok(read)) = state.get() {
            set_last.set(read);
        }
    });
    let (tick, set_tick) = signal(0.0f64);
    every(FRAME, move || set_tick.set(now_ms()));
    let watch = move || {
        let k = key.get_untracked();
        if k.trim().is_empty() {
            return;
        }
        if watching.get_untracked().as_deref() == Some(k.as_str()) {
            state.refetch();
        } else {
            watching.set(Some(k));
        }
    };

    let check = Action::new_local(|body: &CheckRequest<'static>| {
        let body = body.clone();
        async move { api::post::<_, Decision>("/api/v1/limits/check", &body).await }
    });
    let reset = Action::new_local(|key: &String| {
        let path = format!("/api/v1/limits/keys/{}", api::segment(key));
        async move { api::delete(&path).await }
    });
    Effect::new(move || {
        let checked = check.value().get().is_some_and(|r| r.is_ok());
        let was_reset = reset.value().get().is_some_and(|r| r.is_ok());
        if checked || was_reset {
            watch();
        }
    });
    let (error, set_error) = signal(None::<api::ApiError>);
    api::track(check, set_error);
    api::track(reset, set_error);
    let name = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // A cost that is not a number is refused here, as the server would refuse it.
        let Ok(cost) = cost.get_untracked().trim().parse::<u32>() else {
            set_error.set(Some(api::ApiError {
                status: 0,
                detail: "cost must be a whole number".into(),
                errors: vec![flowgate_core::FieldError::new(
                    "/cost",
                    "must be a whole number, 1 or more",
                )],
            }));
            return;
        };
        check.dispatch(CheckRequest {
            key: key.get_untracked().into(),
            endpoint: name(endpoint.get_untracked()).map(Into::into),
            platform: name(platform.get_untracked()).map(Into::into),
            cost: Some(cost),
        });
    };
    let decision = move || check.value().get().and_then(Result::ok).map(|a| a.body);
    let field_error = move |pointer| api::field_error(error, pointer);

    view! {
        <section class="screen keys">
            <h1>"Keys"</h1>
            <form class="check" on:submit=submit aria-label="Check a request">
                <Field label="Key" name="key" value=key error=field_error("/key")/>
                <Field label="Endpoint" name="endpoint" value=endpoint error=field_error("/endpoint")/>
                <Field label="Platform" name="platform" value=platform error=field_error("/platform")/>
                <Field label="Cost" name="cost" value=cost error=field_error("/cost") kind="number"/>
                <div class="actions">
                    <button type="submit">"Check"</button>
                    <button type="button" class="secondary" on:click=move |_| watch()>"Watch"</button>
                    <button type="button" class="danger" on:click=move |_| { reset.dispatch(key.get_untracked()); } disabled=!admin
                            title=(!admin).then_some("Only admins reset keys")>"Reset key"</button>
                </div>
                {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <p class="error" role="alert">{e.detail}</p> })}
            </form>
            {move || decision().map(|d| view! {
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
            {load_state(state)}
            {move || last.get().map(|(state, fetched_at)| view! {
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
