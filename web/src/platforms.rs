//! Platform connections: the user's accounts on Mastodon and Pixelfed instances (tokens go in,
//! never come out; they can be replaced), which one is the default, which are active, and
//! which one this session works in.

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
    let at = move |p| api::field_error(error, p);
    // A change to one connection, then the list and the context again (a connection that is
    // made inactive or deleted may have been the one in use).
    // `then` runs when it succeeded.
    let change = move |id: i64, body: serde_json::Value, then: Box<dyn FnOnce()>| {
        spawn_local(async move {
            match api::patch::<_, Connection>(&format!("/api/v1/platforms/{id}"), &body).await {
                Ok(_) => {
                    set_error.set(None);
                    then();
                    load();
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let remove = move |id: i64, name: String| {
        let sure = window()
            .confirm_with_message(&format!(
                "Delete the connection {name:?}? Its access token is deleted with it."
            ))
            .unwrap_or(false);
        if !sure {
            return;
        }
        spawn_local(async move {
            match api::delete(&format!("/api/v1/platforms/{id}")).await {
                Ok(()) => {
                    set_error.set(None);
                    load();
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    };

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
                    let (active, default) = (c.is_active, c.is_default);
                    let name = c.name.clone();
                    // Replacing the access token: a field shown on demand, write-only as ever.
                    let replacing = RwSignal::new(false);
                    let new_token = RwSignal::new(String::new());
                    let replace = move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        let body = serde_json::json!({ "access_token": new_token.get_untracked() });
                        change(id, body, Box::new(move || {
                            new_token.set(String::new());
                            replacing.set(false);
                        }));
                    };
                    view! {
                        <li class="connection" class:current=current>
                            <span class="name" title=c.name.clone()>{c.name.clone()}</span>
                            <Badge text=Signal::derive({ let t = c.platform_type.clone(); move || t.clone() })/>
                            <span class="account">{format!("{} at {}", c.username, c.instance_url)}</span>
                            {default.then(|| view! { <span class="badge default">"default"</span> })}
                            {(!active).then(|| view! { <span class="badge inactive">"inactive"</span> })}
                            <button on:click=move |_| choose(id) disabled=move || current() || !active>
                                {move || if current() { "In use" } else { "Use" }}
                            </button>
                            <div class="manage">
                                {(!default).then(|| view! {
                                    <button class="secondary" on:click=move |_| change(id, serde_json::json!({ "is_default": true }), Box::new(|| ()))
                                            aria-label=format!("Make {} the default", c.name)>"Make default"</button>
                                })}
                                <button class="secondary" on:click=move |_| change(id, serde_json::json!({ "is_active": !active }), Box::new(|| ()))
                                        aria-label=format!("{} {}", if active { "Deactivate" } else { "Activate" }, c.name)>
                                    {if active { "Deactivate" } else { "Activate" }}
                                </button>
                                <button class="secondary" on:click=move |_| replacing.update(|r| *r = !*r)
                                        aria-label=format!("Replace the access token of {}", c.name)>"Replace token"</button>
                                <button class="danger" on:click=move |_| remove(id, name.clone())
                                        aria-label=format!("Delete {}", c.name)>"Delete"</button>
                            </div>
                            {move || replacing.get().then(|| view! {
                                <form class="replace" on:submit=replace aria-label=format!("New access token for connection {id}")>
                                    <Field label="New access token (stored encrypted, never shown again)" name="new_access_token" value=new_token error=at("/access_token") kind="password"/>
                                    <button type="submit">"Save the token"</button>
                                </form>
                            })}
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
