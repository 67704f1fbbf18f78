//! Tasks with progress bars that move live: each unfinished task listens to its Server-Sent
//! Events with an `EventSource`, which reconnects by itself (with `Last-Event-ID`) when the
//! server restarts, and is closed when the task is done.

use flowgate_core::api::{NewTask, Task, TaskPage, TaskUpdate};
use flowgate_core::progress::TaskStatus;
use std::time::Duration;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use crate::api;
use crate::widgets::{Badge, Bar, When, every, load_state};

/// The tasks screen.
#[component]
pub fn TasksScreen() -> impl IntoView {
    let page = LocalResource::new(|| api::get::<TaskPage>("/api/v1/tasks?limit=50"));
    // New tasks come from workers: look for them now and then (their progress is live).
    every(Duration::from_secs(10), move || page.refetch());
    let tasks = RwSignal::new(Vec::<Task>::new());
    Effect::new(move || {
        if let Some(Ok(answer)) = page.get() {
            tasks.set(answer.body.tasks);
        }
    });
    let create = Action::new_local(|_: &()| async move {
        api::post::<_, Task>("/api/v1/tasks", &NewTask::default()).await
    });
    Effect::new(move || {
        if let Some(Ok(_)) = create.value().get() {
            page.refetch();
        }
    });
    view! {
        <section class="screen tasks">
            <h1>"Tasks"</h1>
            <div class="actions">
                <button on:click=move |_| { create.dispatch(()); } disabled=move || create.pending().get()>"New task"</button>
                <button class="secondary" on:click=move |_| page.refetch()>"Refresh"</button>
                <span class="meta">{move || page.get().and_then(Result::ok).map(|a| format!("{} in all", a.body.total))}</span>
            </div>
            {move || match create.value().get() {
                Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.detail}</p> }),
                _ => None,
            }}
            // Only the first load and a failure show here; the rows live on across polls (each
            // keeps its event stream), keyed by the task.
            {load_state(page)}
            <ul class="task-list">
                <For each=move || tasks.get() key=|t| t.task_id.clone() children=move |t| view! { <TaskRow task=t/> }/>
            </ul>
            {move || (page.get().is_some() && tasks.get().is_empty()).then(|| view! { <p class="meta">"No tasks yet."</p> })}
        </section>
    }
}

/// One task, following its events while it runs.
#[component]
fn TaskRow(task: Task) -> impl IntoView {
    let id = task.task_id.clone();
    let progress_path = format!("/api/v1/tasks/{}/progress", api::segment(&id));
    let (state, set_state) = signal(task);
    let (live, set_live) = signal(false);
    if !state.get_untracked().status.is_terminal() {
        let url = format!("/api/v1/tasks/{}/events", api::segment(&id));
        if let Ok(source) = web_sys::EventSource::new(&url) {
            let on_event = listener(set_state, move || set_live.set(true));
            let _ = source
                .add_event_listener_with_callback("progress", on_event.as_ref().unchecked_ref());
            let closer = source.clone();
            let on_done = listener(set_state, move || {
                set_live.set(false);
                closer.close();
            });
            let _ =
                source.add_event_listener_with_callback("done", on_done.as_ref().unchecked_ref());
            let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| set_live.set(false));
            source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            // The closures live as long as the row; closing the source stops them being called.
            // Browser objects are not `Send`; the console runs on one thread, which is what
            // SendWrapper checks.
            let keep = SendWrapper::new((on_event, on_done, on_error, source));
            on_cleanup(move || {
                let (_, _, _, source) = keep.take();
                source.close();
            });
        }
    }
    let percent = Signal::derive(move || f64::from(state.get().progress_percent));
    // Cancelling is an update like a worker's: stored, then streamed to every watcher.
    let cancel = Action::new_local(move |update: &TaskUpdate| {
        let (path, update) = (progress_path.clone(), update.clone());
        async move { api::put::<_, Task>(&path, &update, None).await }
    });
    Effect::new(move || {
        if let Some(Ok(answer)) = cancel.value().get() {
            set_state.set(answer.body);
        }
    });
    let cancel_error = move || match cancel.value().get() {
        Some(Err(e)) => Some(e.detail),
        _ => None,
    };
    view! {
        <li class="task" data-task-id=id.clone()>
            <div class="task-head">
                <code class="name" title=id.clone()>{id.clone()}</code>
                <Badge text=Signal::derive(move || state.get().status.to_string())/>
                {move || live.get().then(|| view! { <span class="live" title="receiving live updates">"live"</span> })}
                {move || (!state.get().status.is_terminal()).then(|| view! {
                    <button class="secondary cancel" on:click=move |_| {
                        cancel.dispatch(TaskUpdate {
                            current_step: "cancelled from the console".into(),
                            progress_percent: i64::from(state.get_untracked().progress_percent),
                            details: None,
                            status: Some(TaskStatus::Cancelled),
                            error_message: None,
                        });
                    }>"Cancel"</button>
                })}
            </div>
            <Bar value=percent max=Signal::derive(|| 100.0) label=format!("Progress of task {id}")/>
            <div class="task-meta">
                <span class="percent">{move || format!("{}%", state.get().progress_percent)}</span>
                <span class="step">{move || state.get().current_step}</span>
                <span class="eta">{move || {
                    let t = state.get();
                    (t.status == TaskStatus::Running).then_some(t.eta).flatten().map(|s| format!("about {} left", human(s)))
                }}</span>
                <span class="seq">{move || format!("update {}", state.get().seq)}</span>
            </div>
            {move || state.get().error_message.map(|m| view! { <p class="error">{m}</p> })}
            {move || cancel_error().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <small class="meta">
                "created "{move || view! { <When at=state.get().created_at/> }}
                " · updated "{move || view! { <When at=state.get().updated_at/> }}
            </small>
        </li>
    }
}

/// A listener for one kind of the task's events: the event's data is the task's new state.
fn listener(
    set_state: WriteSignal<Task>,
    then: impl Fn() + 'static,
) -> Closure<dyn FnMut(web_sys::MessageEvent)> {
    Closure::new(move |ev: web_sys::MessageEvent| {
        if let Some(t) = ev
            .data()
            .as_string()
            .and_then(|d| serde_json::from_str::<Task>(&d).ok())
        {
            set_state.set(t);
        }
        then();
    })
}

/// Seconds as a short human duration.
fn human(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(4.4), "4 s");
        assert_eq!(human(125.0), "2 min 5 s");
        assert_eq!(human(7_300.0), "2 h 1 min");
    }
}
