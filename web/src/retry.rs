//! The retry policy, with a plot of the delay schedule it implies (the band is the jitter),
//! and the statistics workers have reported.

use flowgate_core::FieldError;
use flowgate_core::api::RetryStatistics;
use flowgate_core::retry::{Error as RetryError, RetryConfig};
use leptos::prelude::*;

use crate::api;
use crate::widgets::{Band, Chart, Field, Series, checked, field_error, load_state};

#[derive(Debug, Clone, Copy)]
struct Form {
    max_attempts: RwSignal<String>,
    base_delay: RwSignal<String>,
    max_delay: RwSignal<String>,
    backoff_factor: RwSignal<String>,
    jitter: RwSignal<bool>,
    jitter_factor: RwSignal<String>,
    retry_on_timeout: RwSignal<bool>,
    retry_on_connection_error: RwSignal<bool>,
    retry_on_server_error: RwSignal<bool>,
    retry_on_rate_limit: RwSignal<bool>,
    status_codes: RwSignal<String>,
    specific_errors: RwSignal<String>,
}

impl Form {
    fn new() -> Form {
        Form {
            max_attempts: RwSignal::new(String::new()),
            base_delay: RwSignal::new(String::new()),
            max_delay: RwSignal::new(String::new()),
            backoff_factor: RwSignal::new(String::new()),
            jitter: RwSignal::new(true),
            jitter_factor: RwSignal::new(String::new()),
            retry_on_timeout: RwSignal::new(true),
            retry_on_connection_error: RwSignal::new(true),
            retry_on_server_error: RwSignal::new(true),
            retry_on_rate_limit: RwSignal::new(true),
            status_codes: RwSignal::new(String::new()),
            specific_errors: RwSignal::new(String::new()),
        }
    }

    fn load(&self, c: &RetryConfig) {
        self.max_attempts.set(c.max_attempts.to_string());
        self.base_delay.set(c.base_delay.to_string());
        self.max_delay.set(c.max_delay.to_string());
        self.backoff_factor.set(c.backoff_factor.to_string());
        self.jitter.set(c.jitter);
        self.jitter_factor.set(c.jitter_factor.to_string());
        self.retry_on_timeout.set(c.retry_on_timeout);
        self.retry_on_connection_error
            .set(c.retry_on_connection_error);
        self.retry_on_server_error.set(c.retry_on_server_error);
        self.retry_on_rate_limit.set(c.retry_on_rate_limit);
        self.status_codes.set(
            c.retry_status_codes
                .as_ref()
                .map(|v| v.iter().map(u16::to_string).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        );
        self.specific_errors.set(
            c.retry_on_specific_errors
                .as_ref()
                .map(|v| v.join(", "))
                .unwrap_or_default(),
        );
    }

    /// The policy the form describes, or every problem in it.
    fn config(&self, kept: Option<&RetryConfig>) -> Result<RetryConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut number = |pointer: &str, text: String| -> f64 {
            text.trim().parse::<f64>().unwrap_or_else(|_| {
                errors.push(FieldError::new(pointer, "must be a number"));
                0.0
            })
        };
        let base_delay = number("/base_delay", self.base_delay.get());
        let max_delay = number("/max_delay", self.max_delay.get());
        let backoff_factor = number("/backoff_factor", self.backoff_factor.get());
        let jitter_factor = number("/jitter_factor", self.jitter_factor.get());
        let max_attempts = self
            .max_attempts
            .get()
            .trim()
            .parse::<u32>()
            .unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    "/max_attempts",
                    "must be a whole number, 1 or more",
                ));
                0
            });
        let codes = self.status_codes.get();
        let retry_status_codes = if codes.trim().is_empty() {
            None
        } else {
            let parsed: Result<Vec<u16>, _> =
                codes.split(',').map(|c| c.trim().parse::<u16>()).collect();
            match parsed {
                Ok(v) => Some(v),
                Err(_) => {
                    errors.push(FieldError::new(
                        "/retry_status_codes",
                        "must be status codes separated by commas",
                    ));
                    None
                }
            }
        };
        let specific = self.specific_errors.get();
        let retry_on_specific_errors = (!specific.trim().is_empty()).then(|| {
            specific
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        });
        let c = RetryConfig {
            max_attempts,
            base_delay,
            max_delay,
            backoff_factor,
            jitter: self.jitter.get(),
            jitter_factor,
            retry_on_timeout: self.retry_on_timeout.get(),
            retry_on_connection_error: self.retry_on_connection_error.get(),
            retry_on_server_error: self.retry_on_server_error.get(),
            retry_on_rate_limit: self.retry_on_rate_limit.get(),
            retry_status_codes,
            retry_on_specific_errors,
            retry_exceptions: kept.and_then(|k| k.retry_exceptions.clone()),
        };
        let core = match c.validate() {
            Err(RetryError::InvalidConfig(core)) => core,
            _ => Vec::new(),
        };
        checked(c, errors, core)
    }
}

/// The retry screen.
#[component]
pub fn RetryScreen(
    /// Whether the user may save.
    admin: bool,
) -> impl IntoView {
    let form = Form::new();
    let (saved, set_saved) = signal(None::<(RetryConfig, Option<String>)>);
    let (message, set_message) = signal(None::<(bool, String)>);
    let (server_errors, set_server_errors) = signal(Vec::<FieldError>::new());
    let current = LocalResource::new(|| api::get::<RetryConfig>("/api/v1/retry/config"));
    Effect::new(move || {
        if let Some(Ok(a)) = current.get() {
            form.load(&a.body);
            set_saved.set(Some((a.body, a.etag)));
        }
    });
    let stats =
        LocalResource::new(|| api::get::<RetryStatistics>("/api/v1/retry/stats?detailed=true"));
    let valid = Memo::new(move |_| form.config(saved.get().as_ref().map(|(c, _)| c)));
    let error_at =
        move |pointer: &'static str| field_error(valid, server_errors, move || pointer.to_string());
    let save = Action::new_local(|(config, etag): &(RetryConfig, Option<String>)| {
        let (config, etag) = (config.clone(), etag.clone());
        async move { api::put::<_, RetryConfig>("/api/v1/retry/config", &config, etag.as_deref()).await }
    });
    Effect::new(move || match save.value().get() {
        Some(Ok(a)) => {
            set_saved.set(Some((a.body, a.etag)));
            set_server_errors.set(Vec::new());
            set_message.set(Some((true, "Saved.".into())));
        }
        Some(Err(e)) => {
            set_server_errors.set(e.errors.clone());
            set_message.set(Some((false, e.detail)));
        }
        None => {}
    });
    let submit = move |_| {
        if let Ok(config) = valid.get_untracked() {
            save.dispatch((config, saved.get_untracked().and_then(|(_, t)| t)));
        }
    };
    // The schedule the edited policy implies: the delay before each retry, and the band the
    // jitter spreads it over (clamped to max_delay, as the core does).
    let schedule = Memo::new(move |_| {
        let c = valid.get().ok()?;
        let retries = c.max_attempts.saturating_sub(1).min(50);
        let spread = if c.jitter { c.jitter_factor } else { 0.0 };
        let base: Vec<(f64, f64)> = (1..=retries)
            .map(|n| (f64::from(n), c.base_delay_for(n)))
            .collect();
        let band: Vec<(f64, f64, f64)> = base
            .iter()
            .map(|&(n, d)| {
                (
                    n,
                    (d * (1.0 - spread)).clamp(0.0, c.max_delay),
                    (d * (1.0 + spread)).clamp(0.0, c.max_delay),
                )
            })
            .collect();
        Some((base, band))
    });
    let series = Signal::derive(move || {
        schedule
            .get()
            .map(|(base, _)| {
                vec![Series {
                    name: "delay before retry (s)".into(),
                    class: "edited",
                    points: base,
                }]
            })
            .unwrap_or_default()
    });
    let band = Signal::derive(move || {
        schedule.get().map(|(_, band)| Band {
            name: "with jitter: lowest to highest".into(),
            points: band,
        })
    });

    let empty_chart = Signal::derive(move || {
        if valid.get().is_err() {
            "Correct the policy above to see its delays".to_string()
        } else {
            "One attempt and no retries: no delays to draw".to_string()
        }
    });

    view! {
        <section class="screen retry">
            <h1>"Retry"</h1>
            {load_state(current)}
            <fieldset>
                <legend>"Policy"</legend>
                <Field label="Attempts (the first included)" name="max_attempts" value=form.max_attempts error=error_at("/max_attempts") kind="number"/>
                <Field label="First delay (s)" name="base_delay" value=form.base_delay error=error_at("/base_delay") kind="number"/>
                <Field label="Longest delay (s)" name="max_delay" value=form.max_delay error=error_at("/max_delay") kind="number"/>
                <Field label="Backoff factor" name="backoff_factor" value=form.backoff_factor error=error_at("/backoff_factor") kind="number"/>
                <Field label="Jitter factor (0.1 = ±10%)" name="jitter_factor" value=form.jitter_factor error=error_at("/jitter_factor") kind="number"/>
                <Field label="Retry these status codes (empty: by the flags below)" name="retry_status_codes" value=form.status_codes error=error_at("/retry_status_codes")/>
                <Field label="Retry errors containing (comma-separated)" name="retry_on_specific_errors" value=form.specific_errors error=error_at("/retry_on_specific_errors")/>
                <div class="checks">
                    <label><input type="checkbox" bind:checked=form.jitter/>" Jitter"</label>
                    <label><input type="checkbox" bind:checked=form.retry_on_timeout/>" Timeouts (and 408)"</label>
                    <label><input type="checkbox" bind:checked=form.retry_on_connection_error/>" Connection errors"</label>
                    <label><input type="checkbox" bind:checked=form.retry_on_server_error/>" Server errors (500, 502, 503, 504)"</label>
                    <label><input type="checkbox" bind:checked=form.retry_on_rate_limit/>" Rate limits (429)"</label>
                </div>
            </fieldset>
            <div class="actions">
                <button on:click=submit disabled=move || !admin || valid.get().is_err() || save.pending().get()
                        title=(!admin).then_some("Only admins change the policy")>"Save"</button>
                {move || message.get().map(|(ok, text)| view! { <p class=if ok { "ok" } else { "error" } role="status">{text}</p> })}
            </div>
            <Chart series=series band=band x_label="retry" y_label="seconds" title="Delay before each retry, with the jitter band" empty=empty_chart/>
            <h2>"Statistics" <button class="secondary small" on:click=move |_| stats.refetch()>"Refresh"</button></h2>
            {load_state(stats)}
            {move || match api::body(stats) {
                None | Some(RetryStatistics::Summary(_)) => None,
                Some(RetryStatistics::Detailed(d)) => Some({
                let (operations, s) = (d.summary.operations, d.summary.totals);
                let success_rate = d.summary.success_rate;
                view! {
                    <dl class="summary">
                        <div><dt>"Operations"</dt><dd>{operations}</dd></div>
                        <div><dt>"Calls"</dt><dd>{s.calls}</dd></div>
                        <div><dt>"Retries"</dt><dd>{s.retries}</dd></div>
                        <div><dt>"Succeeded"</dt><dd>{s.successes}</dd></div>
                        <div><dt>"Failed"</dt><dd>{s.failures}</dd></div>
                        <div><dt>"Exhausted"</dt><dd>{s.exhausted}</dd></div>
                        <div><dt>"Success rate"</dt><dd>{format!("{:.1}%", success_rate * 100.0)}</dd></div>
                        <div><dt>"Waited"</dt><dd>{format!("{:.1} s", s.total_delay)}</dd></div>
                    </dl>
                    <div class="table-scroll">
                        <table class="operations">
                            <thead><tr><th>"Operation"</th><th>"Calls"</th><th>"Attempts"</th><th>"Succeeded"</th><th>"Failed"</th><th>"Exhausted"</th><th>"Longest wait (s)"</th><th>"Statuses"</th></tr></thead>
                            <tbody>
                                {d.operations.into_iter().map(|(name, o)| view! {
                                    <tr>
                                        <td class="name">{name}</td><td>{o.calls}</td><td>{o.attempts}</td><td>{o.successes}</td>
                                        <td>{o.failures}</td><td>{o.exhausted}</td><td>{format!("{:.2}", o.max_delay)}</td>
                                        <td>{o.by_status.iter().map(|(c, n)| format!("{c}×{n}")).collect::<Vec<_>>().join(" ")}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
            }),
            }}
        </section>
    }
}
