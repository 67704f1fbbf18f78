//! # flowgate's admin console
//!
//! A client-side Leptos app, built by Trunk and served by `flowgate-server` from the same
//! origin as the API. Screens: the overview (decisions per second, the share denied, the keys
//! denied most, open tasks and subscribers, live), limits (with a what-if simulation of an edit before it is
//! saved, and the history of versions), keys (buckets that refill live between polls), tasks
//! (progress bars fed by Server-Sent Events), retry (the policy with its delay schedule, and
//! the statistics), platforms (connections and the active context) and access (API tokens,
//! and new accounts for admins). Where the page computes anything it uses `flowgate-core`,
//! compiled to WebAssembly with it, so it decides exactly as the server does.

pub mod access;
mod api;
pub mod keys;
pub mod limits;
pub mod overview;
pub mod platforms;
pub mod retry;
pub mod tasks;
pub mod widgets;

use flowgate_core::api::Login;
pub use flowgate_core::api::Me;
use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

/// The screens: each one's path and title, in the navigation's order. The server answers every
/// one of these paths with the console's `index.html`.
const SCREENS: [(&str, &str); 7] = [
    ("/", "Overview"),
    ("/limits", "Limits"),
    ("/keys", "Keys"),
    ("/tasks", "Tasks"),
    ("/retry", "Retry"),
    ("/platforms", "Platforms"),
    ("/access", "Access"),
];

/// A link to a screen by the fragment the console once used (`/#limits`) is taken to the
/// screen's path before the router reads the address.
fn follow_old_link() {
    let location = window().location();
    let hash = location.hash().unwrap_or_default();
    let Some(slug) = hash.strip_prefix('#').filter(|s| !s.is_empty()) else {
        return;
    };
    let path = format!("/{slug}");
    if SCREENS.iter().any(|(p, _)| *p == path)
        && let Ok(history) = window().history()
    {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
    }
}

/// The console: a sign-in form until someone is signed in, then the screens.
#[component]
pub fn App() -> impl IntoView {
    follow_old_link();
    // Who the browser's session belongs to, asked once; then set by signing in and out. An
    // answer 401 while signed in (the session expired, or was ended in another tab) leads back
    // to the sign-in form, which says so.
    let asked = LocalResource::new(|| api::get::<Me>("/api/v1/auth/me"));
    let session = RwSignal::new(None::<Option<Me>>);
    Effect::new(move || {
        if let Some(answer) = asked.get() {
            session.set(Some(answer.ok().map(|a| a.body)));
        }
    });
    let ended = RwSignal::new(false);
    api::on_unauthorized(move || {
        if matches!(session.get_untracked(), Some(Some(_))) {
            ended.set(true);
            session.set(Some(None));
        }
    });
    provide_context(session);
    move || match session.get() {
        None => view! { <p class="loading" role="status">"Loading…"</p> }.into_any(),
        Some(None) => view! { <SignIn ended=ended/> }.into_any(),
        Some(Some(me)) => view! { <Shell me=me/> }.into_any(),
    }
}

/// The sign-in form.
#[component]
fn SignIn(
    /// Set when the session ended on its own; cleared by signing in.
    ended: RwSignal<bool>,
) -> impl IntoView {
    let session = expect_context::<RwSignal<Option<Option<Me>>>>();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let sign_in = Action::new_local(|body: &Login| {
        let body = body.clone();
        async move { api::post::<_, Me>("/api/v1/auth/login", &body).await }
    });
    Effect::new(move || {
        if let Some(Ok(answer)) = sign_in.value().get() {
            ended.set(false);
            session.set(Some(Some(answer.body)));
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        sign_in.dispatch(Login {
            username: username.get(),
            password: password.get(),
        });
    };
    view! {
        <main class="login">
            <h1>"flowgate"</h1>
            <form on:submit=submit aria-label="Sign in">
                {move || ended.get().then(|| view! { <p class="hint" role="status">"Your session has ended; sign in again."</p> })}
                <label>"Username" <input name="username" autocomplete="username" bind:value=username required/></label>
                <label>"Password" <input name="password" type="password" autocomplete="current-password" bind:value=password required/></label>
                <button type="submit" disabled=move || sign_in.pending().get()>"Sign in"</button>
                {move || match sign_in.value().get() {
                    Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.detail}</p> }),
                    _ => None,
                }}
            </form>
        </main>
    }
}

/// The header, the navigation and the screen the path names.
#[component]
fn Shell(me: Me) -> impl IntoView {
    let session = expect_context::<RwSignal<Option<Option<Me>>>>();
    let sign_out = Action::new_local(|_: &()| async move {
        // Signed out either way: a session the server no longer knows is over too.
        let _ = api::post_empty("/api/v1/auth/logout").await;
    });
    Effect::new(move || {
        if sign_out.value().get().is_some() {
            session.set(Some(None));
        }
    });
    let admin = me.is_admin();
    provide_context(me.clone());
    view! {
        <Router>
            <header class="top">
                <span class="brand">"flowgate"</span>
                <nav aria-label="Screens">
                    {SCREENS.into_iter().map(|(path, title)| view! { <A href=path exact=true>{title}</A> }).collect_view()}
                </nav>
                <span class="who">
                    <span class="username" title=me.username.clone()>{me.username.clone()}</span>
                    " "<span class="role badge">{me.role.as_str()}</span>
                    " "<button class="link" on:click=move |_| { sign_out.dispatch(()); }>"Sign out"</button>
                </span>
            </header>
            <main>
                <Routes fallback=|| view! {
                    <section class="screen">
                        <h1>"Not found"</h1>
                        <p class="meta">"No screen has this address; the navigation above lists them."</p>
                    </section>
                }>
                    <Route path=path!("/") view=move || view! { <overview::OverviewScreen admin=admin/> }/>
                    <Route path=path!("/limits") view=move || view! { <limits::LimitsScreen admin=admin/> }/>
                    <Route path=path!("/keys") view=move || view! { <keys::KeysScreen admin=admin/> }/>
                    <Route path=path!("/tasks") view=tasks::TasksScreen/>
                    <Route path=path!("/retry") view=move || view! { <retry::RetryScreen admin=admin/> }/>
                    <Route path=path!("/platforms") view=platforms::PlatformsScreen/>
                    <Route path=path!("/access") view=move || view! { <access::AccessScreen admin=admin/> }/>
                </Routes>
            </main>
        </Router>
    }
}
