//! Access: the signed-in user's API tokens (a new one is shown once, then only its name) and
//! password, and for admins, new accounts.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;

use crate::api;
use crate::widgets::{Field, When};

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Token {
    id: i64,
    name: String,
    created_at: String,
    /// Only in the answer that creates it.
    #[serde(default)]
    token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct User {
    username: String,
    role: String,
}

/// An account as the admin's list shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Account {
    id: i64,
    username: String,
    role: String,
    is_active: bool,
    created_at: String,
}

/// The access screen.
#[component]
pub fn AccessScreen(
    /// Whether the user may add accounts.
    admin: bool,
) -> impl IntoView {
    view! {
        <section class="screen access">
            <h1>"Access"</h1>
            <Tokens/>
            <PasswordChange/>
            {admin.then(|| view! { <Users/> })}
        </section>
    }
}

/// The caller's API tokens: the list, a form for a new one, and the new one's value, once.
#[component]
fn Tokens() -> impl IntoView {
    // None until the first answer, so that "no tokens" is never said of a list not yet read.
    let (tokens, set_tokens) = signal(None::<Vec<Token>>);
    let (created, set_created) = signal(None::<Token>);
    let (error, set_error) = signal(None::<api::ApiError>);
    let load = move || {
        spawn_local(async move {
            match api::get::<Vec<Token>>("/api/v1/tokens").await {
                Ok(a) => set_tokens.set(Some(a.body)),
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    load();
    let name = RwSignal::new(String::new());
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = serde_json::json!({ "name": name.get_untracked() });
        spawn_local(async move {
            match api::post::<_, Token>("/api/v1/tokens", &body).await {
                Ok(a) => {
                    set_error.set(None);
                    name.set(String::new());
                    set_created.set(Some(a.body));
                    load();
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let revoke = move |id: i64, name: String| {
        // Workers using it are cut off at once, and it cannot be brought back.
        let sure = window()
            .confirm_with_message(&format!(
                "Revoke the token {name:?}? Whatever uses it stops working."
            ))
            .unwrap_or(false);
        if !sure {
            return;
        }
        spawn_local(async move {
            match api::delete(&format!("/api/v1/tokens/{id}")).await {
                Ok(()) => {
                    set_error.set(None);
                    if created.get_untracked().is_some_and(|t| t.id == id) {
                        set_created.set(None);
                    }
                    load();
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let name_error = api::field_error(error, "/name");

    view! {
        <h2>"API tokens"</h2>
        <p class="hint">"Workers send one as "<code>"Authorization: Bearer …"</code>". A token acts as you and is shown only when it is made."</p>
        {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <p class="error" role="alert">{e.detail}</p> })}
        {move || created.get().and_then(|t| t.token.map(|value| view! {
            <div class="new-token" role="status">
                <p>"Token "<strong>{t.name.clone()}</strong>" — copy it now; it is not shown again:"</p>
                <input class="secret" readonly aria-label="The new token" prop:value=value on:focus=select_all/>
                <button type="button" class="secondary" on:click=move |_| set_created.set(None)>"Done"</button>
            </div>
        }))}
        <ul class="tokens">
            <For each=move || tokens.get().unwrap_or_default() key=|t| t.id children=move |t| {
                let id = t.id;
                let name = t.name.clone();
                view! {
                    <li class="token">
                        <span class="name" title=t.name.clone()>{t.name.clone()}</span>
                        <span class="meta">"made "<When at=t.created_at.clone()/></span>
                        <button type="button" class="danger" on:click=move |_| revoke(id, name.clone())
                                aria-label=format!("Revoke {}", t.name)>"Revoke"</button>
                    </li>
                }
            }/>
        </ul>
        {move || tokens.get().is_some_and(|t| t.is_empty()).then(|| view! { <p class="meta">"No tokens yet."</p> })}
        <form class="add" on:submit=create aria-label="Make a token">
            <Field label="Name of the new token" name="token_name" value=name error=name_error/>
            <button type="submit">"Make a token"</button>
        </form>
    }
}

/// Selects the whole text of the input that got the focus, ready to copy.
fn select_all(ev: leptos::ev::FocusEvent) {
    use wasm_bindgen::JsCast;
    if let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    {
        input.select();
    }
}

/// The form that changes the signed-in user's own password.
#[component]
fn PasswordChange() -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let (error, set_error) = signal(None::<api::ApiError>);
    let (done, set_done) = signal(false);
    // Said as soon as both are typed, before anything is sent.
    let mismatch = Signal::derive(move || {
        let (n, a) = (new.get(), again.get());
        (!a.is_empty() && n != a).then(|| "does not match the new password".to_string())
    });
    let change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if mismatch.get_untracked().is_some() {
            return;
        }
        let body = serde_json::json!({
            "current_password": current.get_untracked(),
            "new_password": new.get_untracked(),
        });
        spawn_local(async move {
            match api::post::<_, serde_json::Value>("/api/v1/auth/password", &body).await {
                Ok(_) => {
                    set_error.set(None);
                    for field in [current, new, again] {
                        field.set(String::new());
                    }
                    set_done.set(true);
                }
                Err(e) => {
                    set_done.set(false);
                    set_error.set(Some(e));
                }
            }
        });
    };
    let at = move |p| api::field_error(error, p);

    view! {
        <form class="add" on:submit=change aria-label="Change your password">
            <h2>"Change your password"</h2>
            <Field label="Current password" name="current_password" value=current error=at("/current_password") kind="password"/>
            <Field label="New password (8 characters at least)" name="new_password" value=new error=at("/new_password") kind="password"/>
            <Field label="New password again" name="new_password_again" value=again error=mismatch kind="password"/>
            <button type="submit" disabled=move || mismatch.get().is_some()>"Change password"</button>
            {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <p class="error" role="alert">{e.detail}</p> })}
            {move || done.get().then(|| view! { <p class="ok" role="status">"Password changed. Your other sessions have ended; your API tokens still work."</p> })}
        </form>
    }
}

/// An admin's list of accounts, each of which (but their own) can be deactivated, activated,
/// made an admin or a user; and the form for a new one.
#[component]
fn Users() -> impl IntoView {
    let me = use_context::<crate::Me>().map(|m| m.id);
    let (accounts, set_accounts) = signal(Vec::<Account>::new());
    let (error, set_error) = signal(None::<String>);
    let load = move || {
        spawn_local(async move {
            match api::get::<Vec<Account>>("/api/v1/users").await {
                Ok(a) => set_accounts.set(a.body),
                Err(e) => set_error.set(Some(e.detail)),
            }
        });
    };
    load();
    let change = move |id: i64, body: serde_json::Value| {
        spawn_local(async move {
            match api::patch::<_, Account>(&format!("/api/v1/users/{id}"), &body).await {
                Ok(_) => {
                    set_error.set(None);
                    load();
                }
                Err(e) => set_error.set(Some(e.detail)),
            }
        });
    };
    view! {
        <h2>"Users"</h2>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <ul class="accounts">
            <For each=move || accounts.get() key=|a| (a.id, a.role.clone(), a.is_active) children=move |a| {
                let id = a.id;
                let yourself = me == Some(id);
                let is_admin = a.role == "admin";
                let active = a.is_active;
                view! {
                    <li class="account">
                        <span class="name">{a.username.clone()}</span>
                        <span class="badge">{a.role.clone()}</span>
                        {(!active).then(|| view! { <span class="badge inactive">"inactive"</span> })}
                        {yourself.then(|| view! { <span class="meta">"you"</span> })}
                        <span class="meta">"since "<When at=a.created_at.clone()/></span>
                        {(!yourself).then(|| view! {
                            <div class="manage">
                                <button class="secondary" aria-label=format!("Make {} {}", a.username, if is_admin { "a user" } else { "an admin" })
                                        on:click=move |_| change(id, serde_json::json!({ "role": if is_admin { "user" } else { "admin" } }))>
                                    {if is_admin { "Make user" } else { "Make admin" }}
                                </button>
                                <button class=if active { "danger" } else { "secondary" }
                                        aria-label=format!("{} {}", if active { "Deactivate" } else { "Activate" }, a.username)
                                        on:click=move |_| change(id, serde_json::json!({ "is_active": !active }))>
                                    {if active { "Deactivate" } else { "Activate" }}
                                </button>
                            </div>
                        })}
                    </li>
                }
            }/>
        </ul>
        <NewUser on_added=load/>
    }
}

/// An admin's form for a new account.
#[component]
fn NewUser(
    /// Called after an account is added.
    on_added: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new("user".to_string());
    let (error, set_error) = signal(None::<api::ApiError>);
    let (made, set_made) = signal(None::<User>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = serde_json::json!({
            "username": username.get_untracked(),
            "password": password.get_untracked(),
            "role": role.get_untracked(),
        });
        spawn_local(async move {
            match api::post::<_, User>("/api/v1/users", &body).await {
                Ok(a) => {
                    set_error.set(None);
                    username.set(String::new());
                    password.set(String::new());
                    set_made.set(Some(a.body));
                    on_added();
                }
                Err(e) => {
                    set_made.set(None);
                    set_error.set(Some(e));
                }
            }
        });
    };
    let at = move |p| api::field_error(error, p);

    view! {
        <form class="add" on:submit=create aria-label="Add a user">
            <h2>"Add a user"</h2>
            <Field label="Username" name="new_username" value=username error=at("/username")/>
            <Field label="Password (8 characters at least)" name="new_password" value=password error=at("/password") kind="password"/>
            <label class="field"><span>"Role"</span>
                <select name="role" on:change=move |ev| role.set(event_target_value(&ev)) prop:value=move || role.get()>
                    <option value="user">"user: checks, tasks, platforms, own tokens"</option>
                    <option value="admin">"admin: also limits, retry policy, key resets, users"</option>
                </select>
            </label>
            <button type="submit">"Add"</button>
            {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <p class="error" role="alert">{e.detail}</p> })}
            {move || made.get().map(|u| view! { <p class="ok" role="status">{format!("Added {} ({}).", u.username, u.role)}</p> })}
        </form>
    }
}
