//! Platform connections: the user's accounts on Mastodon and Pixelfed instances (tokens go in,
//! never come out; they can be replaced), which one is the default, which are active, and
//! which one this session works in.

use flowgate_core::api::{Connection, ConnectionChange, Context, ContextChoice, NewConnection};
use flowgate_core::context::{PlatformType, normalize_instance_url};
use leptos::prelude::*;

use crate::api;
use crate::widgets::{Badge, Field, confirmed, load_state};

/// The platforms screen.
#[component]
pub fn PlatformsScreen() -> impl IntoView {
    let listed = LocalResource::new(|| api::get::<Vec<Connection>>("/api/v1/platforms"));
    let chosen = LocalResource::new(|| api::get::<Context>("/api/v1/context"));
    let connections = move || api::body(listed).unwrap_or_default();
    let context = move || api::body(chosen);
    // After any change, the list and the context again (a connection that is made inactive or
    // deleted may have been the one in use).
    let reload = move || {
        listed.refetch();
        chosen.refetch();
    };
    let choose = Action::new_local(|id: &i64| {
        let choice = ContextChoice {
            platform_connection_id: Some(*id),
        };
        async move { api::put::<_, Context>("/api/v1/context", &choice, None).await }
    });
    let change = Action::new_local(|(id, body): &(i64, ConnectionChange)| {
        let (path, body) = (format!("/api/v1/platforms/{id}"), body.clone());
        async move { api::patch::<_, Connection>(&path, &body).await }
    });
    let remove = Action::new_local(|id: &i64| {
        let path = format!("/api/v1/platforms/{id}");
        async move { api::delete(&path).await }
    });
    let add = Action::new_local(|body: &NewConnection| {
        let body = body.clone();
        async move { api::post::<_, Connection>("/api/v1/platforms", &body).await }
    });
    Effect::new(move || {
        let done = [
            choose.value().get().map(|r| r.is_ok()),
            change.value().get().map(|r| r.is_ok()),
            remove.value().get().map(|r| r.is_ok()),
            add.value().get().map(|r| r.is_ok()),
        ];
        if done.contains(&Some(true)) {
            reload();
        }
    });
    // The refusal of whichever ran last, if it was refused.
    let (error, set_error) = signal(None::<api::ApiError>);
    api::track(choose, set_error);
    api::track(change, set_error);
    api::track(remove, set_error);
    api::track(add, set_error);
    let confirm_remove = move |id: i64, name: String| {
        if confirmed(&format!(
            "Delete the connection {name:?}? Its access token is deleted with it."
        )) {
            remove.dispatch(id);
        }
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
    Effect::new(move || {
        if let Some(Ok(_)) = add.value().get() {
            token.set(String::new());
            name.set(String::new());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        add.dispatch(NewConnection {
            name: name.get_untracked(),
            platform_type: PlatformType::parse(&kind.get_untracked())
                .unwrap_or(PlatformType::Mastodon),
            instance_url: url.get_untracked(),
            username: username.get_untracked(),
            access_token: token.get_untracked(),
            is_active: None,
            is_default: None,
        });
    };
    let at = move |p| api::field_error(error, p);

    view! {
        <section class="screen platforms">
            <h1>"Platforms"</h1>
            <p class="context" role="status">
                {move || match context() {
                    Some(Context { is_valid: true, platform_info: Some(i), .. }) =>
                        format!("Working in: {} ({} at {})", i.name, i.username, i.instance_url),
                    Some(Context { platform_connection_id: Some(_), .. }) => "The chosen connection is not active.".to_string(),
                    _ => "No platform chosen for this session.".to_string(),
                }}
            </p>
            {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <p class="error" role="alert">{e.detail}</p> })}
            {load_state(listed)}
            <ul class="connections">
                <For each=connections key=|c| (c.id, c.is_active, c.is_default, c.name.clone()) children=move |c| {
                    let id = c.id;
                    let current = move || context().and_then(|x| x.platform_connection_id) == Some(id);
                    let (active, default) = (c.is_active, c.is_default);
                    let name = c.name.clone();
                    // Replacing the access token: a field shown on demand, write-only as ever.
                    let replacing = RwSignal::new(false);
                    let new_token = RwSignal::new(String::new());
                    let replace_token = Action::new_local(move |token: &String| {
                        let body = ConnectionChange {
                            access_token: Some(token.clone()),
                            ..ConnectionChange::default()
                        };
                        async move { api::patch::<_, Connection>(&format!("/api/v1/platforms/{id}"), &body).await }
                    });
                    api::track(replace_token, set_error);
                    Effect::new(move || {
                        if let Some(Ok(_)) = replace_token.value().get() {
                            new_token.set(String::new());
                            replacing.set(false);
                            reload();
                        }
                    });
                    let replace = move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        replace_token.dispatch(new_token.get_untracked());
                    };
                    view! {
                        <li class="connection" class:current=current>
                            <span class="name" title=c.name.clone()>{c.name.clone()}</span>
                            <Badge text=Signal::derive({ let t = c.platform_type; move || t.to_string() })/>
                            <span class="account">{format!("{} at {}", c.username, c.instance_url)}</span>
                            {default.then(|| view! { <span class="badge default">"default"</span> })}
                            {(!active).then(|| view! { <span class="badge inactive">"inactive"</span> })}
                            <button on:click=move |_| { choose.dispatch(id); } disabled=move || current() || !active>
                                {move || if current() { "In use" } else { "Use" }}
                            </button>
                            <div class="manage">
                                {(!default).then(|| view! {
                                    <button class="secondary" on:click=move |_| { change.dispatch((id, ConnectionChange { is_default: Some(true), ..ConnectionChange::default() })); }
                                            aria-label=format!("Make {} the default", c.name)>"Make default"</button>
                                })}
                                <button class="secondary" on:click=move |_| { change.dispatch((id, ConnectionChange { is_active: Some(!active), ..ConnectionChange::default() })); }
                                        aria-label=format!("{} {}", if active { "Deactivate" } else { "Activate" }, c.name)>
                                    {if active { "Deactivate" } else { "Activate" }}
                                </button>
                                <button class="secondary" on:click=move |_| replacing.update(|r| *r = !*r)
                                        aria-label=format!("Replace the access token of {}", c.name)>"Replace token"</button>
                                <button class="danger" on:click=move |_| confirm_remove(id, name.clone())
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
            <form class="add" on:submit=submit aria-label="Add a connection">
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
