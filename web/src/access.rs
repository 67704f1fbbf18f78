//! Access: the signed-in user's API tokens (a new one is shown once, then only its name) and
//! password, and for admins, new accounts.

use flowgate_core::api::{Account, AccountChange, NewToken, NewUser, PasswordChange, Role, Token};
use leptos::prelude::*;

use crate::api;
use crate::widgets::{Field, Loading, When, confirmed, load_state};

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
    let tokens = LocalResource::new(|| api::get::<Vec<Token>>("/api/v1/tokens"));
    let listed = move || api::body(tokens).unwrap_or_default();
    let (created, set_created) = signal(None::<Token>);
    let make = Action::new_local(|body: &NewToken| {
        let body = body.clone();
        async move { api::post::<_, Token>("/api/v1/tokens", &body).await }
    });
    // Workers using a revoked token are cut off at once, and it cannot be brought back.
    let revoke = Action::new_local(|id: &i64| {
        let (id, path) = (*id, format!("/api/v1/tokens/{id}"));
        async move { api::delete(&path).await.map(|()| id) }
    });
    let (error, set_error) = signal(None::<api::ApiError>);
    api::track(make, set_error);
    api::track(revoke, set_error);
    let name = RwSignal::new(String::new());
    Effect::new(move || {
        if let Some(Ok(answer)) = make.value().get() {
            name.set(String::new());
            set_created.set(Some(answer.body));
            tokens.refetch();
        }
    });
    Effect::new(move || {
        if let Some(Ok(revoked)) = revoke.value().get() {
            if created.get_untracked().is_some_and(|t| t.id == revoked) {
                set_created.set(None);
            }
            tokens.refetch();
        }
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        make.dispatch(NewToken {
            name: name.get_untracked(),
        });
    };
    let confirm_revoke = move |id: i64, name: String| {
        if confirmed(&format!(
            "Revoke the token {name:?}? Whatever uses it stops working."
        )) {
            revoke.dispatch(id);
        }
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
        <Loading>{move || Suspend::new(async move { tokens.await.map(|a| a.body.is_empty().then(|| view! { <p class="meta">"No tokens yet."</p> })) })}</Loading>
        <ul class="tokens">
            <For each=listed key=|t| t.id children=move |t| {
                let id = t.id;
                let name = t.name.clone();
                view! {
                    <li class="token">
                        <span class="name" title=t.name.clone()>{t.name.clone()}</span>
                        <span class="meta">"made "<When at=t.created_at.clone()/></span>
                        <button type="button" class="danger" on:click=move |_| confirm_revoke(id, name.clone())
                                aria-label=format!("Revoke {}", t.name)>"Revoke"</button>
                    </li>
                }
            }/>
        </ul>
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
    // Said as soon as both are typed, before anything is sent.
    let mismatch = Signal::derive(move || {
        let (n, a) = (new.get(), again.get());
        (!a.is_empty() && n != a).then(|| "does not match the new password".to_string())
    });
    let send = Action::new_local(|body: &PasswordChange| {
        let body = body.clone();
        async move { api::post::<_, serde_json::Value>("/api/v1/auth/password", &body).await }
    });
    let (error, set_error) = signal(None::<api::ApiError>);
    api::track(send, set_error);
    let done = move || matches!(send.value().get(), Some(Ok(_)));
    Effect::new(move || {
        if done() {
            for field in [current, new, again] {
                field.set(String::new());
            }
        }
    });
    let change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if mismatch.get_untracked().is_none() {
            send.dispatch(PasswordChange {
                current_password: current.get_untracked(),
                new_password: new.get_untracked(),
            });
        }
    };
    let at = move |p| api::field_error(error, p);

    view! {
        <form class="add" on:submit=change aria-label="Change your password">
            <h2>"Change your password"</h2>
            <Field label="Current password" name="current_password" value=current error=at("/current_password") kind="password"/>
            <Field label="New password (8 characters at least)" name="new_password" value=new error=at("/new_password") kind="password"/>
            <Field label="New password again" name="new_password_again" value=again error=mismatch kind="password"/>
            <button type="submit" disabled=move || mismatch.get().is_some() || send.pending().get()>"Change password"</button>
            {move || error.get().filter(|e| e.errors.is_empty()).map(|e| view! { <p class="error" role="alert">{e.detail}</p> })}
            {move || done().then(|| view! { <p class="ok" role="status">"Password changed. Your other sessions have ended; your API tokens still work."</p> })}
        </form>
    }
}

/// An admin's list of accounts, each of which (but their own) can be deactivated, activated,
/// made an admin or a user; and the form for a new one.
#[component]
fn Users() -> impl IntoView {
    let me = use_context::<crate::Me>().map(|m| m.id);
    let accounts = LocalResource::new(|| api::get::<Vec<Account>>("/api/v1/users"));
    let listed = move || api::body(accounts).unwrap_or_default();
    let change = Action::new_local(|(id, body): &(i64, AccountChange)| {
        let (path, body) = (format!("/api/v1/users/{id}"), body.clone());
        async move { api::patch::<_, Account>(&path, &body).await }
    });
    let (error, set_error) = signal(None::<api::ApiError>);
    api::track(change, set_error);
    Effect::new(move || {
        if let Some(Ok(_)) = change.value().get() {
            accounts.refetch();
        }
    });
    view! {
        <h2>"Users"</h2>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e.detail}</p> })}
        {load_state(accounts)}
        <ul class="accounts">
            <For each=listed key=|a| (a.id, a.role, a.is_active) children=move |a| {
                let id = a.id;
                let yourself = me == Some(id);
                let is_admin = a.role == Role::Admin;
                let active = a.is_active;
                view! {
                    <li class="account">
                        <span class="name">{a.username.clone()}</span>
                        <span class="badge">{a.role.as_str()}</span>
                        {(!active).then(|| view! { <span class="badge inactive">"inactive"</span> })}
                        {yourself.then(|| view! { <span class="meta">"you"</span> })}
                        <span class="meta">"since "<When at=a.created_at.clone()/></span>
                        {(!yourself).then(|| view! {
                            <div class="manage">
                                <button class="secondary" aria-label=format!("Make {} {}", a.username, if is_admin { "a user" } else { "an admin" })
                                        on:click=move |_| { change.dispatch((id, AccountChange { role: Some(if is_admin { Role::User } else { Role::Admin }), is_active: None })); }>
                                    {if is_admin { "Make user" } else { "Make admin" }}
                                </button>
                                <button class=if active { "danger" } else { "secondary" }
                                        aria-label=format!("{} {}", if active { "Deactivate" } else { "Activate" }, a.username)
                                        on:click=move |_| { change.dispatch((id, AccountChange { role: None, is_active: Some(!active) })); }>
                                    {if active { "Deactivate" } else { "Activate" }}
                                </button>
                            </div>
                        })}
                    </li>
                }
            }/>
        </ul>
        <NewAccount on_added=move || accounts.refetch()/>
    }
}

/// An admin's form for a new account.
#[component]
fn NewAccount(
    /// Called after an account is added.
    on_added: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new("user".to_string());
    let add = Action::new_local(|body: &NewUser| {
        let body = body.clone();
        async move { api::post::<_, Account>("/api/v1/users", &body).await }
    });
    let (error, set_error) = signal(None::<api::ApiError>);
    api::track(add, set_error);
    let made = move || add.value().get().and_then(Result::ok).map(|a| a.body);
    Effect::new(move || {
        if let Some(Ok(_)) = add.value().get() {
            username.set(String::new());
            password.set(String::new());
            on_added();
        }
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        add.dispatch(NewUser {
            username: username.get_untracked(),
            password: password.get_untracked(),
            role: Role::parse(&role.get_untracked()).unwrap_or(Role::User),
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
            {move || made().map(|u| view! { <p class="ok" role="status">{format!("Added {} ({}).", u.username, u.role.as_str())}</p> })}
        </form>
    }
}
