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

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Me {
    /// Their id.
    pub id: i64,
    /// Their name.
    pub username: String,
    /// `admin` or `user`.
    pub role: String,
}

impl Me {
    /// Whether they may change limits and policies.
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// The screens, by the URL fragment that selects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screen {
    Overview,
    Limits,
    Keys,
    Tasks,
    Retry,
    Platforms,
    Access,
}

impl Screen {
    const ALL: [Screen; 7] = [
        Screen::Overview,
        Screen::Limits,
        Screen::Keys,
        Screen::Tasks,
        Screen::Retry,
        Screen::Platforms,
        Screen::Access,
    ];

    fn slug(self) -> &'static str {
        match self {
            Screen::Overview => "overview",
            Screen::Limits => "limits",
            Screen::Keys => "keys",
            Screen::Tasks => "tasks",
            Screen::Retry => "retry",
            Screen::Platforms => "platforms",
            Screen::Access => "access",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview",
            Screen::Limits => "Limits",
            Screen::Keys => "Keys",
            Screen::Tasks => "Tasks",
            Screen::Retry => "Retry",
            Screen::Platforms => "Platforms",
            Screen::Access => "Access",
        }
    }

    fn from_hash() -> Screen {
        let hash = window().location().hash().unwrap_or_default();
        let slug = hash.trim_start_matches('#');
        Screen::ALL
            .into_iter()
            .find(|s| s.slug() == slug)
            .unwrap_or(Screen::Overview)
    }
}

/// The console: a login form until someone is signed in, then the screens.
#[component]
pub fn App() -> impl IntoView {
    // None: not known yet; Some(None): signed out; Some(Some(me)): signed in.
    let session = RwSignal::new(None::<Option<Me>>);
    // Whether the session ended under the user (expired, or signed out in another tab): any
    // answer 401 while signed in leads back to the sign-in form, which says so.
    let ended = RwSignal::new(false);
    api::on_unauthorized(move || {
        if matches!(session.get_untracked(), Some(Some(_))) {
            ended.set(true);
            session.set(Some(None));
        }
    });
    let (me, set_me) = session.split();
    spawn_local(async move {
        let who = api::get::<Me>("/api/v1/auth/me").await.ok().map(|a| a.body);
        set_me.set(Some(who));
    });
    provide_context(set_me);
    move || match me.get() {
        None => view! { <p class="loading" role="status">"Loading…"</p> }.into_any(),
        Some(None) => view! { <Login ended=ended/> }.into_any(),
        Some(Some(me)) => view! { <Shell me=me/> }.into_any(),
    }
}

/// The sign-in form.
#[component]
fn Login(
    /// Set when the session ended on its own; cleared by signing in.
    ended: RwSignal<bool>,
) -> impl IntoView {
    let set_me = expect_context::<WriteSignal<Option<Option<Me>>>>();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let (error, set_error) = signal(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = serde_json::json!({"username": username.get(), "password": password.get()});
        spawn_local(async move {
            match api::post::<_, Me>("/api/v1/auth/login", &body).await {
                Ok(answer) => {
                    ended.set(false);
                    set_me.set(Some(Some(answer.body)));
                }
                Err(e) => set_error.set(Some(e.detail)),
            }
        });
    };
    view! {
        <main class="login">
            <h1>"flowgate"</h1>
            <form on:submit=submit aria-label="Sign in">
                {move || ended.get().then(|| view! { <p class="hint" role="status">"Your session has ended; sign in again."</p> })}
                <label>"Username" <input name="username" autocomplete="username" bind:value=username required/></label>
                <label>"Password" <input name="password" type="password" autocomplete="current-password" bind:value=password required/></label>
                <button type="submit">"Sign in"</button>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            </form>
        </main>
    }
}

/// The header, the navigation and the selected screen.
#[component]
fn Shell(me: Me) -> impl IntoView {
    let set_me = expect_context::<WriteSignal<Option<Option<Me>>>>();
    let (screen, set_screen) = signal(Screen::from_hash());
    let on_hash = window_event_listener(leptos::ev::hashchange, move |_| {
        set_screen.set(Screen::from_hash())
    });
    on_cleanup(move || on_hash.remove());
    let logout = move |_| {
        spawn_local(async move {
            let _ =
                api::post::<_, serde_json::Value>("/api/v1/auth/logout", &serde_json::json!({}))
                    .await;
            set_me.set(Some(None));
        });
    };
    let admin = me.is_admin();
    provide_context(me.clone());
    view! {
        <header class="top">
            <span class="brand">"flowgate"</span>
            <nav aria-label="Screens">
                {Screen::ALL.into_iter().map(|s| view! {
                    <a href=format!("#{}", s.slug())
                       aria-current=move || (screen.get() == s).then_some("page")>{s.title()}</a>
                }).collect_view()}
            </nav>
            <span class="who">
                <span class="username" title=me.username.clone()>{me.username.clone()}</span>
                " "<span class="role badge">{me.role.clone()}</span>
                " "<button class="link" on:click=logout>"Sign out"</button>
            </span>
        </header>
        <main>
            {move || match screen.get() {
                Screen::Overview => view! { <overview::OverviewScreen admin=admin/> }.into_any(),
                Screen::Limits => view! { <limits::LimitsScreen admin=admin/> }.into_any(),
                Screen::Keys => view! { <keys::KeysScreen admin=admin/> }.into_any(),
                Screen::Tasks => view! { <tasks::TasksScreen/> }.into_any(),
                Screen::Retry => view! { <retry::RetryScreen admin=admin/> }.into_any(),
                Screen::Platforms => view! { <platforms::PlatformsScreen/> }.into_any(),
                Screen::Access => view! { <access::AccessScreen admin=admin/> }.into_any(),
            }}
        </main>
    }
}
