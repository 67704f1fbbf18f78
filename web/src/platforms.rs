//! Platform connections: the user's accounts on Mastodon and Pixelfed instances (tokens go in,
//! never come out), and which one this session works in.

use flowgate_core::context::normalize_instance_url;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;

use crate::api;
use crate::widgets::{Badge, Field};

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Connection {
    id: i64,
    name: String,
    platform_type: String,
    instance_url: String,
    username: String,
    is_active: bool,
    is_default: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct PlatformInfo {
    platform_type: String,
    instance_url: String,
    username: String,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Context {
    platform_connection_id: Option<i64>,
    is_valid: bool,
    platform_info: Option<PlatformInfo>,
}

/// The platforms screen.
#[component]
pub fn PlatformsScreen() -> impl IntoView {
    let (connections, set_connections) = signal(Vec::<Connection>::new());
    let (context, set_context) = signal(None::<Context>);
    let (error, set_error) = signal(None::<api::ApiError>);
    let load = move || {
        spawn_local(async move {
            match api::get::<Vec<Connection>>("/api/v1/platforms").await {
                Ok(a) => set_connections.set(a.body),
                Err(e) => set_error.set(Some(e)),
            }
            if let Ok(a) = api::get::<Context>("/api/v1/context").await {
                set_context.set(Some(a.body));
            }
        });
    };
    load();
    let choose = move |id: i64| {
        spawn_local(async move {
            match api::put::<_, Context>(
                "/api/v1/context",
                &serde_json::json!({"platform_connection_id": id}),
                None,
            )
            .await
            {
                Ok(a) => {
                    set_error.set(None);
                    set_context.set(Some(a.body));
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    };

    let name = RwSignal::new(String::new());
    let kind = RwSignal::new("mastodon".to_string());
    let url = RwSignal::new("https://".to_string());
    let username = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let url_error = Signal::derive(move || {
        let u = url.get();
        if u.trim() == "https://" || u.trim().is_empty() {
            return None;
        }
        normalize_instance_url(&u)
            .err()
            .map(|e| e.to_string())
            .or_else(|| error.get().and_then(|e| e.at("/instance_url")))
    });
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = serde_json::json!({
            "name": name.get_untracked(), "platform_type": kind.get_untracked(), "instance_url": url.get_untracked(),
            "username": username.get_untracked(), "access_token": token.get_untracked(),
        });
        spawn_local(async move {
            match api::post::<_, Connection>("/api/v1/platforms", &body).await {
                Ok(_) => {
                    set_error.set(None);
                    token.set(String::new());
                    name.set(String::new());
                    load();
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let at = move |p: &'static str| Signal::derive(move || error.get().and_then(|e| e.at(p)));

    view! {
        <section class="screen platforms">
            <h1>"Platforms"</h1>
            <p class="context" role="status">
                {move || match context.get() {
                    Some(Context { is_valid: true, platform_info: Some(i), .. }) =>
                        format!("Working in: {} ({} at {})", i.name, i.username, i.instance_url),
                    Some(Context { platform_connection_id: Some(_), .. }) => "The chosen connection is not active.".to_string(),
                    _ => "No platform chosen for this session.".to_string(),
                }}
            </p>
            {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <p class="error" role="alert">{e.detail}</p> })}
            <ul class="connections">
                <For each=move || connections.get() key=|c| (c.id, c.is_active, c.is_default, c.name.clone()) children=move |c| {
                    let id = c.id;
                    let current = move || context.get().and_then(|x| x.platform_connection_id) == Some(id);
                    view! {
                        <li class="connection" class:current=current>
                            <span class="name" title=c.name.clone()>{c.name.clone()}</span>
                            <Badge text=Signal::derive({ let t = c.platform_type.clone(); move || t.clone() })/>
                            <span class="account">{format!("{} at {}", c.username, c.instance_url)}</span>
                            {c.is_default.then(|| view! { <span class="badge default">"default"</span> })}
                            {(!c.is_active).then(|| view! { <span class="badge inactive">"inactive"</span> })}
                            <button on:click=move |_| choose(id) disabled=move || current() || !c.is_active>
                                {move || if current() { "In use" } else { "Use" }}
                            </button>
                        </li>
                    }
                }/>
            </ul>
            <form class="add" on:submit=add aria-label="Add a connection">
                <h2>"Add a connection"</h2>
                <Field label="Name" name="name" value=name error=at("/name")/>
                <label class="field"><span>"Platform"</span>
                    <select name="platform_type" on:change=move |ev| kind.set(event_target_value(&ev)) prop:value=move || kind.get()>
                        <option value="mastodon">"Mastodon"</option>
                        <option value="pixelfed">"Pixelfed"</option>
                    </select>
                </label>
                <Field label="Instance URL" name="instance_url" value=url error=url_error kind="url"/>
                <Field label="Username" name="username" value=username error=at("/username")/>
                <Field label="Access token (stored encrypted, never shown again)" name="access_token" value=token error=at("/access_token") kind="password"/>
                <button type="submit">"Add"</button>
            </form>
        </section>
    }
}
