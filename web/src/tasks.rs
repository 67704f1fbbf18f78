//! Tasks with progress bars that move live: each unfinished task listens to its Server-Sent
//! Events with an `EventSource`, which reconnects by itself (with `Last-Event-ID`) when the
//! server restarts, and is closed when the task is done.

use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use crate::api;
use crate::widgets::{Badge, Bar, When};

/// A task as the server sends it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Task {
    task_id: String,
    current_step: String,
    progress_percent: u8,
    status: String,
    seq: u64,
    eta: Option<f64>,
    error_message: Option<String>,
    created_at: String,
    updated_at: String,
}

impl Task {
    fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

#[derive(Debug, Clone, Deserialize)]
struct TaskPage {
    tasks: Vec<Task>,
    total: i64,
}

/// The tasks screen.
#[component]
pub fn TasksScreen() -> impl IntoView {
    let (tasks, set_tasks) = signal(Vec::<Task>::new());
    let (total, set_total) = signal(0i64);
    let (error, set_error) = signal(None::<String>);
    let load = move || {
        spawn_local(async move {
            match api::get::<TaskPage>("/api/v1/tasks?limit=50").await {
                Ok(a) => {
                    set_total.set(a.body.total);
                    set_tasks.set(a.body.tasks);
                }
                Err(e) => set_error.set(Some(e.detail)),
            }
        });
    };
    load();
    // New tasks come from workers: look for them now and then (their progress is live).
    let poll = set_interval_with_handle(load, std::time::Duration::from_secs(10)).ok();
    on_cleanup(move || {
        if let Some(h) = poll {
            h.clear();
        }
    });
    let create = move |_| {
        spawn_local(async move {
            match api::post::<_, Task>("/api/v1/tasks", &serde_json::json!({})).await {
                Ok(_) => load(),
                Err(e) => set_error.set(Some(e.detail)),
            }
        });
    };
    view! {
        <section class="screen tasks">
            <h1>"Tasks"</h1>
            <div class="actions">
                <button on:click=create>"New task"</button>
                <button class="secondary" on:click=move |_| load()>"Refresh"</button>
                <span class="meta">{move || format!("{} in all", total.get())}</span>
            </div>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <ul class="task-list">
                <For each=move || tasks.get() key=|t| t.task_id.clone() children=move |t| view! { <TaskRow task=t/> }/>
            </ul>
            {move || tasks.get().is_empty().then(|| view! { <p class="meta">"No tasks yet."</p> })}
        </section>
    }
}

/// One task, following its events while it runs.
#[component]
fn TaskRow(task: Task) -> impl IntoView {
    let id = task.task_id.clone();
    let (state, set_state) = signal(task);
    let (live, set_live) = signal(false);
    if !state.get_untracked().is_terminal() {
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
    let (cancel_error, set_cancel_error) = signal(None::<String>);
    // Cancelling is an update like a worker's: stored, then streamed to every watcher.
    let cancel = {
        let id = id.clone();
        move |_| {
            let now = state.get_untracked();
            let body = serde_json::json!({
                "current_step": "cancelled from the console",
                "progress_percent": now.progress_percent,
                "status": "cancelled",
            });
            let path = format!("/api/v1/tasks/{}/progress", api::segment(&id));
            spawn_local(async move {
                match api::put::<_, Task>(&path, &body, None).await {
                    Ok(a) => {
                        set_cancel_error.set(None);
                        set_state.set(a.body);
                    }
                    Err(e) => set_cancel_error.set(Some(e.detail)),
                }
            });
        }
    };
    view! {
        <li class="task" data-task-id=id.clone()>
            <div class="task-head">
                <code class="name" title=id.clone()>{id.clone()}</code>
                <Badge text=Signal::derive(move || state.get().status)/>
                {move || live.get().then(|| view! { <span class="live" title="receiving live updates">"live"</span> })}
                {move || (!state.get().is_terminal()).then(|| view! {
                    <button class="secondary cancel" on:click=cancel.clone()>"Cancel"</button>
                })}
            </div>
            <Bar value=percent max=Signal::derive(|| 100.0) label=format!("Progress of task {id}")/>
            <div class="task-meta">
                <span class="percent">{move || format!("{}%", state.get().progress_percent)}</span>
                <span class="step">{move || state.get().current_step}</span>
                <span class="eta">{move || {
                    let t = state.get();
                    (t.status == "running").then_some(t.eta).flatten().map(|s| format!("about {} left", human(s)))
                }}</span>
                <span class="seq">{move || format!("update {}", state.get().seq)}</span>
            </div>
            {move || state.get().error_message.map(|m| view! { <p class="error">{m}</p> })}
            {move || cancel_error.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
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
