//! The limits editor: global limits and the per-endpoint, per-platform and
//! per-platform-endpoint tables, validated as you type by the core (the same rules the server
//! applies), saved with `If-Match`; and a what-if simulation of the edit before it is saved.

use std::collections::BTreeMap;
use std::time::Duration;

use flowgate_core::FieldError;
use flowgate_core::ratelimit::{
    Error as LimitError, Limiter, RateLimitConfig, Request, ScopeLimits, ScopeMode,
};
use leptos::prelude::*;

use crate::api;
use crate::widgets::{Chart, Field, Series, When, checked, field_error, load_state};
use flowgate_core::api::HistoryEntry;

/// Which table a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Endpoint,
    Platform,
    PlatformEndpoint,
}

/// One scoped row of the form, as typed (strings, so that a bad value can be shown).
#[derive(Debug, Clone, Copy)]
struct Row {
    id: u32,
    kind: Kind,
    platform: RwSignal<String>,
    endpoint: RwSignal<String>,
    minute: RwSignal<String>,
    hour: RwSignal<String>,
    day: RwSignal<String>,
    burst: RwSignal<String>,
    /// Whether its windows replace the global ones of the same name for its requests.
    overrides: RwSignal<bool>,
}

/// A map key as one JSON Pointer token.
fn token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

impl Row {
    fn new(id: u32, kind: Kind, platform: &str, endpoint: &str, limits: &ScopeLimits) -> Row {
        let text = |v: Option<u32>| RwSignal::new(v.map(|v| v.to_string()).unwrap_or_default());
        Row {
            id,
            kind,
            platform: RwSignal::new(platform.to_string()),
            endpoint: RwSignal::new(endpoint.to_string()),
            minute: text(limits.minute),
            hour: text(limits.hour),
            day: text(limits.day),
            burst: text(limits.burst),
            overrides: RwSignal::new(limits.mode == ScopeMode::Override),
        }
    }

    /// The row's JSON Pointer, to a field when given.
    fn pointer(&self, field: Option<&str>) -> String {
        let base = match self.kind {
            Kind::Endpoint => format!("/endpoint_limits/{}", token(&self.endpoint.get())),
            Kind::Platform => format!("/platform_limits/{}", token(&self.platform.get())),
            Kind::PlatformEndpoint => {
                format!(
                    "/platform_endpoint_limits/{}/{}",
                    token(&self.platform.get()),
                    token(&self.endpoint.get())
                )
            }
        };
        match field {
            Some(f) => format!("{base}/{f}"),
            None => base,
        }
    }
}

/// The whole form.
#[derive(Debug, Clone, Copy)]
struct Form {
    minute: RwSignal<String>,
    hour: RwSignal<String>,
    day: RwSignal<String>,
    burst: RwSignal<String>,
    rows: RwSignal<Vec<Row>>,
    next_id: RwSignal<u32>,
}

impl Form {
    fn new() -> Form {
        Form {
            minute: RwSignal::new(String::new()),
            hour: RwSignal::new(String::new()),
            day: RwSignal::new(String::new()),
            burst: RwSignal::new(String::new()),
            rows: RwSignal::new(Vec::new()),
            next_id: RwSignal::new(0),
        }
    }

    fn load(&self, c: &RateLimitConfig) {
        self.minute.set(c.requests_per_minute.to_string());
        self.hour.set(c.requests_per_hour.to_string());
        self.day.set(c.requests_per_day.to_string());
        self.burst.set(c.max_burst.to_string());
        let mut rows = Vec::new();
        let mut id = 0;
        for (e, l) in &c.endpoint_limits {
            rows.push(Row::new(id, Kind::Endpoint, "", e, l));
            id += 1;
        }
        for (p, l) in &c.platform_limits {
            rows.push(Row::new(id, Kind::Platform, p, "", l));
            id += 1;
        }
        for (p, endpoints) in &c.platform_endpoint_limits {
            for (e, l) in endpoints {
                rows.push(Row::new(id, Kind::PlatformEndpoint, p, e, l));
                id += 1;
            }
        }
        self.rows.set(rows);
        self.next_id.set(id);
    }

    fn add(&self, kind: Kind) {
        let id = self.next_id.get_untracked();
        self.next_id.set(id + 1);
        self.rows
            .update(|rows| rows.push(Row::new(id, kind, "", "", &ScopeLimits::default())));
    }

    /// The document the form describes, or every problem in it (typed values first, then the
    /// core's own validation, the same the server runs).
    fn config(&self) -> Result<RateLimitConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut required = |pointer: &str, text: &str| -> u32 {
            match text.trim().parse::<u32>() {
                Ok(v) => v,
                Err(_) => {
                    errors.push(FieldError::new(pointer, "must be a positive integer"));
                    0
                }
            }
        };
        let mut c = RateLimitConfig {
            requests_per_minute: required("/requests_per_minute", &self.minute.get()),
            requests_per_hour: required("/requests_per_hour", &self.hour.get()),
            requests_per_day: required("/requests_per_day", &self.day.get()),
            max_burst: required("/max_burst", &self.burst.get()),
            endpoint_limits: BTreeMap::new(),
            platform_limits: BTreeMap::new(),
            platform_endpoint_limits: BTreeMap::new(),
        };
        for row in self.rows.get() {
            let mut limits = ScopeLimits {
                mode: if row.overrides.get() {
                    ScopeMode::Override
                } else {
                    ScopeMode::All
                },
                ..ScopeLimits::default()
            };
            for (field, signal, slot) in [
                ("minute", row.minute, &mut limits.minute),
                ("hour", row.hour, &mut limits.hour),
                ("day", row.day, &mut limits.day),
                ("burst", row.burst, &mut limits.burst),
            ] {
                let text = signal.get();
                if text.trim().is_empty() {
                    continue;
                }
                match text.trim().parse::<u32>() {
                    Ok(v) => *slot = Some(v),
                    Err(_) => errors.push(FieldError::new(
                        row.pointer(Some(field)),
                        "must be a positive integer, or empty",
                    )),
                }
            }
            let (p, e) = (
                row.platform.get().trim().to_string(),
                row.endpoint.get().trim().to_string(),
            );
            let taken = match row.kind {
                Kind::Endpoint => c.endpoint_limits.insert(e, limits).is_some(),
                Kind::Platform => c.platform_limits.insert(p, limits).is_some(),
                Kind::PlatformEndpoint => c
                    .platform_endpoint_limits
                    .entry(p)
                    .or_default()
                    .insert(e, limits)
                    .is_some(),
            };
            if taken {
                errors.push(FieldError::new(row.pointer(None), "is listed twice"));
            }
        }
        let core = match c.validate() {
            Err(LimitError::InvalidConfig(core)) => core,
            _ => Vec::new(),
        };
        checked(c, errors, core)
    }
}

/// How many versions the history lists.
const HISTORY: usize = 10;

/// The limits screen.
#[component]
pub fn LimitsScreen(
    /// Whether the user may save.
    admin: bool,
) -> impl IntoView {
    let form = Form::new();
    let (saved, set_saved) = signal(None::<(RateLimitConfig, Option<String>)>);
    let (server_errors, set_server_errors) = signal(Vec::<FieldError>::new());
    let (message, set_message) = signal(None::<(bool, String)>);
    let current = LocalResource::new(|| api::get::<RateLimitConfig>("/api/v1/limits"));
    // The latest versions, newest first.
    let history = LocalResource::new(|| async {
        let path = format!("/api/v1/limits/history?limit={HISTORY}");
        api::get::<Vec<HistoryEntry>>(&path).await
    });
    let versions = move || api::body(history).unwrap_or_default();
    // What the server holds goes into the form when it comes (and again on Discard).
    Effect::new(move || {
        if let Some(Ok(answer)) = current.get() {
            form.load(&answer.body);
            set_saved.set(Some((answer.body, answer.etag)));
            set_server_errors.set(Vec::new());
        }
    });
    let reload = move || {
        current.refetch();
        history.refetch();
    };
    let load_version = move |entry: HistoryEntry| {
        let version = entry.version;
        form.load(&entry.limits);
        set_server_errors.set(Vec::new());
        let note = format!(
            "Version {version} is in the form: the what-if below compares it with the saved \
             limits; Save makes it current."
        );
        set_message.set(Some((true, note)));
    };

    let valid = Memo::new(move |_| form.config());
    let error_at =
        move |pointer: String| field_error(valid, server_errors, move || pointer.clone());
    let save = Action::new_local(|(config, etag): &(RateLimitConfig, Option<String>)| {
        let (config, etag) = (config.clone(), etag.clone());
        async move { api::put::<_, RateLimitConfig>("/api/v1/limits", &config, etag.as_deref()).await }
    });
    Effect::new(move || match save.value().get() {
        Some(Ok(answer)) => {
            let version = answer.etag.clone().unwrap_or_default();
            set_saved.set(Some((answer.body, answer.etag)));
            set_server_errors.set(Vec::new());
            set_message.set(Some((
                true,
                format!("Saved: version {}", version.trim_matches('"')),
            )));
            history.refetch();
        }
        Some(Err(e)) => {
            set_server_errors.set(e.errors.clone());
            let hint = if e.status == 412 {
                " Reload to see the current version."
            } else {
                ""
            };
            set_message.set(Some((false, format!("{}{hint}", e.detail))));
        }
        None => {}
    });
    let submit = move |_| {
        let Ok(config) = valid.get_untracked() else {
            set_message.set(Some((false, "Fix the marked fields first.".into())));
            return;
        };
        let etag = saved.get_untracked().and_then(|(_, tag)| tag);
        save.dispatch((config, etag));
    };

    view! {
        <section class="screen limits">
            <h1>"Limits"</h1>
            {load_state(current)}
            <p class="meta">
                {move || versions().first().cloned().map(|h| view! {
                    {format!("Version {} · changed by {} ", h.version, h.changed_by)}<When at=h.changed_at.clone()/>
                })}
            </p>
            <fieldset class="global">
                <legend>"Global (every request)"</legend>
                <Field label="Requests per minute" name="requests_per_minute" value=form.minute error=error_at("/requests_per_minute".into()) kind="number"/>
                <Field label="Requests per hour" name="requests_per_hour" value=form.hour error=error_at("/requests_per_hour".into()) kind="number"/>
                <Field label="Requests per day" name="requests_per_day" value=form.day error=error_at("/requests_per_day".into()) kind="number"/>
                <Field label="Burst (at once)" name="max_burst" value=form.burst error=error_at("/max_burst".into()) kind="number"/>
            </fieldset>
            <ScopeTable title="Per endpoint" kind=Kind::Endpoint form=form error_at=error_at/>
            <ScopeTable title="Per platform" kind=Kind::Platform form=form error_at=error_at/>
            <ScopeTable title="Per platform and endpoint" kind=Kind::PlatformEndpoint form=form error_at=error_at/>
            <div class="actions">
                <button on:click=submit disabled=move || !admin || valid.get().is_err() || save.pending().get()
                        title=(!admin).then_some("Only admins change limits")>"Save"</button>
                <button class="secondary" on:click=move |_| reload()>"Discard changes"</button>
                {move || message.get().map(|(ok, text)| view! {
                    <p class=if ok { "ok" } else { "error" } role="status">{text}</p>
                })}
            </div>
            <WhatIf saved=Signal::derive(move || saved.get().map(|(c, _)| c)) edited=Signal::derive(move || valid.get().ok())/>
            <details class="history">
                <summary>{format!("History (the last {HISTORY} versions)")}</summary>
                <ol>
                    <For each=versions key=|h| h.version children=move |h| {
                        let label = format!("Load version {} into the form", h.version);
                        let by = format!(" · {} · ", h.changed_by);
                        let at = h.changed_at.clone();
                        let version = h.version;
                        view! {
                            <li>
                                <span><strong>{format!("Version {version}")}</strong>{by}<When at=at/></span>
                                <button class="secondary" aria-label=label on:click=move |_| load_version(h.clone())>"Load"</button>
                            </li>
                        }
                    }/>
                </ol>
            </details>
        </section>
    }
}

/// One of the three scoped tables.
#[component]
fn ScopeTable(
    title: &'static str,
    kind: Kind,
    form: Form,
    error_at: impl Fn(String) -> Signal<Option<String>> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let rows = move || {
        form.rows
            .get()
            .into_iter()
            .filter(move |r| r.kind == kind)
            .collect::<Vec<_>>()
    };
    view! {
        <fieldset class="scope">
            <legend>{title}</legend>
            <div class="rows">
                <For each=rows key=|r| r.id children=move |row| {
                    let name_error = {
                        let ptr = Signal::derive(move || row.pointer(None));
                        Signal::derive(move || error_at(ptr.get()).get())
                    };
                    let names = match kind {
                        Kind::Endpoint => view! {
                            <Field label="Endpoint" value=row.endpoint error=name_error/>
                        }.into_any(),
                        Kind::Platform => view! {
                            <Field label="Platform" value=row.platform error=name_error/>
                        }.into_any(),
                        Kind::PlatformEndpoint => view! {
                            <Field label="Platform" value=row.platform/>
                            <Field label="Endpoint" value=row.endpoint error=name_error/>
                        }.into_any(),
                    };
                    let at = move |f: &'static str| {
                        let ptr = Signal::derive(move || row.pointer(Some(f)));
                        Signal::derive(move || error_at(ptr.get()).get())
                    };
                    view! {
                        <div class="row">
                            {names}
                            <Field label="Per minute" value=row.minute error=at("minute") kind="number"/>
                            <Field label="Per hour" value=row.hour error=at("hour") kind="number"/>
                            <Field label="Per day" value=row.day error=at("day") kind="number"/>
                            <Field label="Burst" value=row.burst error=at("burst") kind="number"/>
                            <button class="remove" aria-label="Remove this row"
                                    on:click=move |_| form.rows.update(|rs| rs.retain(|r| r.id != row.id))>"×"</button>
                            <label class="mode" title="Override: for this scope's requests its windows replace the global windows of the same name (the other global windows still apply; without a burst of its own, max_burst caps its shortest window). Otherwise the global limits apply too.">
                                <input type="checkbox" bind:checked=row.overrides/>" Overrides the global windows it names"
                            </label>
                        </div>
                    }
                }/>
            </div>
            <button class="secondary" on:click=move |_| form.add(kind)>"Add a row"</button>
        </fieldset>
    }
}

/// A request pattern to try limits on.
#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    per_second: f64,
    seconds: u32,
    burst: u32,
    endpoint: Option<String>,
    platform: Option<String>,
}

/// What the limits make of a pattern: per second of it, admitted and denied.
#[derive(Debug, Clone, PartialEq, Default)]
struct Outcome {
    admitted: Vec<(f64, f64)>,
    denied: Vec<(f64, f64)>,
    total_admitted: u64,
    total_denied: u64,
}

/// The most requests one simulation makes, so the page stays responsive.
const MAX_SIMULATED: u64 = 200_000;

/// Runs the pattern through the core's limiter, one key, from a fresh state.
fn simulate(config: &RateLimitConfig, p: &Pattern) -> Option<Outcome> {
    let mut state = Limiter::new(config, 1).ok()?;
    let request = Request::new(p.endpoint.as_deref(), p.platform.as_deref());
    let steady = (p.per_second * f64::from(p.seconds)).floor() as u64;
    let total = (u64::from(p.burst) + steady).min(MAX_SIMULATED);
    let mut admitted = vec![0u64; p.seconds.max(1) as usize];
    let mut denied = vec![0u64; p.seconds.max(1) as usize];
    let mut out = Outcome::default();
    for i in 0..total {
        let t = if i < u64::from(p.burst) {
            0.0
        } else {
            (i - u64::from(p.burst)) as f64 / p.per_second
        };
        let second = (t as usize).min(admitted.len() - 1);
        let now = Duration::from_secs_f64(t);
        match state.is_allowed("what-if", &request, now) {
            Ok(d) if d.allowed => {
                admitted[second] += 1;
                out.total_admitted += 1;
            }
            Ok(_) => {
                denied[second] += 1;
                out.total_denied += 1;
            }
            Err(_) => return None,
        }
    }
    out.admitted = admitted
        .iter()
        .enumerate()
        .map(|(s, &n)| (s as f64, n as f64))
        .collect();
    out.denied = denied
        .iter()
        .enumerate()
        .map(|(s, &n)| (s as f64, n as f64))
        .collect();
    Some(out)
}

/// The what-if panel: a request pattern, and what the saved and the edited limits make of it.
#[component]
fn WhatIf(
    saved: Signal<Option<RateLimitConfig>>,
    edited: Signal<Option<RateLimitConfig>>,
) -> impl IntoView {
    let rate = RwSignal::new("2".to_string());
    let seconds = RwSignal::new("120".to_string());
    let burst = RwSignal::new("20".to_string());
    let endpoint = RwSignal::new(String::new());
    let platform = RwSignal::new(String::new());
    let pattern = Memo::new(move |_| {
        let per_second = rate
            .get()
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| *r > 0.0 && r.is_finite())?;
        let seconds = seconds
            .get()
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|s| (1..=86_400).contains(s))?;
        let burst = burst.get().trim().parse::<u32>().ok()?;
        let name = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Some(Pattern {
            per_second,
            seconds,
            burst,
            endpoint: name(endpoint.get()),
            platform: name(platform.get()),
        })
    });
    let before = Memo::new(move |_| Some(simulate(&saved.get()?, &pattern.get()?)).flatten());
    let after = Memo::new(move |_| Some(simulate(&edited.get()?, &pattern.get()?)).flatten());
    // Running totals rather than counts per second: a limit's steady rate admits 0 or 1 in
    // each second, which drew as a zigzag; the totals are two smooth lines that part where
    // the saved and the edited limits differ.
    let so_far = |points: Vec<(f64, f64)>| {
        let mut total = 0.0;
        points
            .into_iter()
            .map(|(x, y)| {
                total += y;
                (x, total)
            })
            .collect::<Vec<_>>()
    };
    let series = Signal::derive(move || {
        let mut s = Vec::new();
        for (which, outcome) in [("saved", before.get()), ("edited", after.get())] {
            if let Some(o) = outcome {
                s.push(Series {
                    name: format!("{which}: {} admitted", o.total_admitted),
                    class: which,
                    points: so_far(o.admitted),
                });
                let class = if which == "saved" {
                    "saved denied"
                } else {
                    "edited denied"
                };
                s.push(Series {
                    name: format!("{which}: {} denied", o.total_denied),
                    class,
                    points: so_far(o.denied),
                });
            }
        }
        s
    });
    let pattern_error = Signal::derive(move || {
        pattern
            .get()
            .is_none()
            .then(|| "a positive rate, 1 to 86400 seconds, a whole burst".to_string())
    });
    view! {
        <section class="what-if" aria-label="What if">
            <h2>"What if"</h2>
            <p class="hint">"A pattern of requests for one key, run through the saved limits and through the edited ones (before saving), by the same core the server runs."</p>
            <div class="pattern">
                <Field label="Requests per second" name="whatif_rate" value=rate error=pattern_error kind="number"/>
                <Field label="For seconds" name="whatif_seconds" value=seconds kind="number"/>
                <Field label="Burst at the start" name="whatif_burst" value=burst kind="number"/>
                <Field label="Endpoint" name="whatif_endpoint" value=endpoint/>
                <Field label="Platform" name="whatif_platform" value=platform/>
            </div>
            <Chart series=series x_label="second" y_label="requests so far" title="Requests admitted and denied so far, saved limits beside edited limits"/>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_pattern_is_admitted_at_the_limits_rate_after_the_burst() {
        let config = RateLimitConfig {
            requests_per_minute: 60,
            max_burst: 5,
            ..RateLimitConfig::default()
        };
        let pattern = Pattern {
            per_second: 4.0,
            seconds: 30,
            burst: 10,
            endpoint: None,
            platform: None,
        };
        let out = simulate(&config, &pattern).unwrap();
        // Five pass at once, then one per second.
        assert_eq!(out.admitted[0].1, 5.0);
        assert!(
            out.admitted[1..].iter().all(|&(_, n)| n == 1.0),
            "{:?}",
            out.admitted
        );
        assert_eq!(out.total_admitted + out.total_denied, 10 + 120);
        assert!(
            simulate(
                &RateLimitConfig {
                    requests_per_minute: 0,
                    ..config
                },
                &pattern
            )
            .is_none()
        );
    }
}
