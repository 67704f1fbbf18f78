//! Small pieces the screens share: labelled inputs with their errors, bars, charts.

use std::time::Duration;

use flowgate_core::FieldError;
use leptos::prelude::*;
use send_wrapper::SendWrapper;

/// Calls `f` every `period` for as long as the component that asks lives: a gloo-timers
/// `Interval`, cancelled when the component is cleaned up (leaving its screen).
pub(crate) fn every(period: Duration, f: impl FnMut() + 'static) {
    let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    // Browser timers are not `Send`; the console runs on one thread, which SendWrapper checks.
    let interval = SendWrapper::new(gloo_timers::callback::Interval::new(millis, f));
    on_cleanup(move || drop(interval.take()));
}

/// [`Loading`] for a resource whose data the screen shows elsewhere: "Loading…" until its
/// first answer, and its refusal, if refused.
pub(crate) fn load_state<T: Clone + Send + Sync + 'static>(
    resource: LocalResource<Result<T, crate::api::ApiError>>,
) -> impl IntoView {
    view! { <Loading>{move || Suspend::new(async move { resource.await.map(|_| ()) })}</Loading> }
}

/// Whether the user confirms `question` (the browser's own dialog); no dialog, no.
pub(crate) fn confirmed(question: &str) -> bool {
    window().confirm_with_message(question).unwrap_or(false)
}

/// What a screen shows while its data first loads, and when loading failed. A `Transition`
/// (a `Suspense` that keeps what it showed while a resource is fetched again), so that a screen
/// that polls does not flash "Loading…" at every poll.
#[component]
pub fn Loading(
    /// What is read: resources awaited in a `Suspend`.
    children: Children,
) -> impl IntoView {
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
            <ErrorBoundary fallback=|errors| view! {
                <p class="error" role="alert">
                    {move || errors.get().into_iter().map(|(_, e)| e.to_string()).collect::<Vec<_>>().join("; ")}
                </p>
            }>
                {children()}
            </ErrorBoundary>
        </Transition>
    }
}

/// A labelled text or number input bound to `value`, with the error `error` beside it.
#[component]
pub fn Field(
    /// The label.
    label: &'static str,
    /// The input's value.
    value: RwSignal<String>,
    /// The error to show next to it, if any.
    #[prop(optional, into)]
    error: MaybeProp<String>,
    /// The input's type (`text` unless given). `number` is shown as text with a numeric
    /// keyboard, so that a bad value can be typed, kept and marked rather than silently dropped.
    #[prop(default = "text")]
    kind: &'static str,
    /// A name for tests and autofill.
    #[prop(default = "")]
    name: &'static str,
) -> impl IntoView {
    view! {
        <label class="field" class:invalid=move || error.get().is_some()>
            <span>{label}</span>
            <input type=if kind == "number" { "text" } else { kind }
                   inputmode=(kind == "number").then_some("decimal")
                   name=name bind:value=value
                   aria-invalid=move || error.get().is_some().then_some("true")/>
            {move || error.get().map(|e| view! { <small class="error" role="alert">{e}</small> })}
        </label>
    }
}

/// A horizontal bar for `value` of `max`, with an accessible value.
#[component]
pub fn Bar(
    /// How full.
    #[prop(into)]
    value: Signal<f64>,
    /// Full.
    #[prop(into)]
    max: Signal<f64>,
    /// What the bar is, for screen readers.
    label: String,
) -> impl IntoView {
    let percent = move || {
        let max = max.get();
        if max <= 0.0 {
            0.0
        } else {
            (value.get() / max * 100.0).clamp(0.0, 100.0)
        }
    };
    view! {
        <div class="bar" role="progressbar" aria-label=label
             aria-valuemin="0" aria-valuemax=move || format!("{}", max.get())
             aria-valuenow=move || format!("{}", value.get())>
            <div class="fill" style=move || format!("width: {:.2}%", percent())></div>
        </div>
    }
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// A CSS class for its colour.
    pub class: &'static str,
    /// Its points (x, y).
    pub points: Vec<(f64, f64)>,
}

/// A band between two lines (a lower and an upper bound at each x).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Its name in the legend.
    pub name: String,
    /// Its points (x, low, high).
    pub points: Vec<(f64, f64, f64)>,
}

const W: f64 = 600.0;
const H: f64 = 220.0;
const PAD: f64 = 36.0;

/// A line chart in SVG: `series` over an optional `band`, axes labelled with `x_label` and
/// `y_label`.
#[component]
pub fn Chart(
    /// The lines.
    #[prop(into)]
    series: Signal<Vec<Series>>,
    /// A shaded band under them.
    #[prop(into, optional)]
    band: Option<Signal<Option<Band>>>,
    /// The horizontal axis.
    x_label: &'static str,
    /// The vertical axis.
    y_label: &'static str,
    /// What the chart shows, for screen readers.
    title: &'static str,
    /// Said in place of the lines when there are none (why, and what would draw some).
    #[prop(into, optional)]
    empty: Option<Signal<String>>,
) -> impl IntoView {
    let band = band.unwrap_or_else(|| Signal::derive(|| None));
    let nothing_to_draw = move || series.get().iter().all(|s| s.points.is_empty());
    let bounds = move || {
        let (mut x_max, mut y_max) = (1.0f64, 1.0f64);
        for s in series.get() {
            for (x, y) in s.points {
                x_max = x_max.max(x);
                y_max = y_max.max(y);
            }
        }
        if let Some(b) = band.get() {
            for (x, _, hi) in b.points {
                x_max = x_max.max(x);
                y_max = y_max.max(hi);
            }
        }
        (x_max, y_max * 1.1)
    };
    let sx = move |x: f64| PAD + x / bounds().0 * (W - PAD * 1.5);
    let sy = move |y: f64| H - PAD - y / bounds().1 * (H - PAD * 1.5);
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=title preserveAspectRatio="xMidYMid meet">
                <line class="axis" x1=PAD y1=H - PAD x2=W - PAD / 2.0 y2=H - PAD/>
                <line class="axis" x1=PAD y1=PAD / 2.0 x2=PAD y2=H - PAD/>
                <text class="tick" x=PAD - 4.0 y=PAD / 2.0 + 8.0 text-anchor="end">{move || format!("{:.0}", bounds().1)}</text>
                <text class="tick" x=PAD - 4.0 y=H - PAD text-anchor="end">"0"</text>
                <text class="tick" x=W - PAD / 2.0 y=H - PAD + 14.0 text-anchor="end">{move || format!("{:.0}", bounds().0)}</text>
                <text class="label" x=W / 2.0 y=H - 4.0 text-anchor="middle">{x_label}</text>
                <text class="label" x=10.0 y=H / 2.0 text-anchor="middle" transform=format!("rotate(-90 10 {})", H / 2.0)>{y_label}</text>
                {move || band.get().map(|b| {
                    let upper: Vec<String> = b.points.iter().map(|&(x, _, hi)| format!("{:.1},{:.1}", sx(x), sy(hi))).collect();
                    let lower: Vec<String> = b.points.iter().rev().map(|&(x, lo, _)| format!("{:.1},{:.1}", sx(x), sy(lo))).collect();
                    view! { <polygon class="band" points=format!("{} {}", upper.join(" "), lower.join(" "))/> }
                })}
                {move || series.get().into_iter().map(|s| {
                    let points: Vec<String> = s.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y))).collect();
                    view! { <polyline class=format!("line {}", s.class) points=points.join(" ")/> }
                }).collect_view()}
                {move || empty.filter(|_| nothing_to_draw()).map(|text| view! {
                    <text class="empty" x=W / 2.0 y=H / 2.0 text-anchor="middle">{text}</text>
                })}
            </svg>
            <figcaption class="legend">
                {move || band.get().map(|b| view! { <span class="key band">{b.name}</span> })}
                {move || series.get().into_iter().map(|s| view! { <span class=format!("key {}", s.class)>{s.name}</span> }).collect_view()}
            </figcaption>
        </figure>
    }
}

/// A status badge.
#[component]
pub fn Badge(
    /// Its text, also its CSS class.
    #[prop(into)]
    text: Signal<String>,
) -> impl IntoView {
    view! { <span class=move || format!("badge {}", text.get())>{move || text.get()}</span> }
}

/// The document a form describes, or its problems: the form's own (values that do not parse)
/// first, then the core's validation, one per field.
pub(crate) fn checked<T>(
    document: T,
    mut errors: Vec<FieldError>,
    core: Vec<FieldError>,
) -> Result<T, Vec<FieldError>> {
    for e in core {
        if !errors.iter().any(|x| x.pointer == e.pointer) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(document)
    } else {
        Err(errors)
    }
}

/// The error to show at `pointer`: the page's own check first, else what the server said of
/// the last save.
pub(crate) fn field_error<T: Clone + Send + Sync + PartialEq + 'static>(
    checked: Memo<Result<T, Vec<FieldError>>>,
    server: ReadSignal<Vec<FieldError>>,
    pointer: impl Fn() -> String + Send + Sync + 'static,
) -> Signal<Option<String>> {
    let find = |errors: Vec<FieldError>, at: &str| {
        errors
            .into_iter()
            .find(|e| e.pointer == at)
            .map(|e| e.detail)
    };
    Signal::derive(move || {
        let at = pointer();
        checked
            .get()
            .err()
            .and_then(|es| find(es, &at))
            .or_else(|| find(server.get(), &at))
    })
}

/// How long ago `seconds` was, as a person says it.
pub fn ago(seconds: f64) -> String {
    let minutes = (seconds / 60.0).round();
    let hours = (seconds / 3600.0).round();
    let days = (seconds / 86_400.0).round();
    match seconds {
        s if s < 45.0 => "just now".to_string(),
        s if s < 90.0 => "a minute ago".to_string(),
        s if s < 45.0 * 60.0 => format!("{minutes} min ago"),
        s if s < 90.0 * 60.0 => "an hour ago".to_string(),
        s if s < 22.0 * 3600.0 => format!("{hours} h ago"),
        s if s < 36.0 * 3600.0 => "yesterday".to_string(),
        _ => format!("{days} days ago"),
    }
}

/// A moment the server gave (RFC 3339) as a person reads it: "3 min ago", with the local date
/// and time on hover (and the exact moment for machines, in `datetime`).
#[component]
pub fn When(
    /// The moment, RFC 3339.
    #[prop(into)]
    at: String,
) -> impl IntoView {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(&at));
    let ms = date.get_time();
    let (text, local) = if ms.is_nan() {
        (at.clone(), at.clone())
    } else {
        let local: String = date
            .to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
            .into();
        (ago((js_sys::Date::now() - ms) / 1000.0), local)
    };
    view! { <time datetime=at title=local>{text}</time> }
}
