//! Prometheus metrics (`GET /metrics`, in the OpenMetrics text format), with
//! `prometheus-client`: decisions by outcome, scope and window of the binding bucket, decision
//! latency, live keys, event-stream subscribers, tasks by status, retry reports by outcome,
//! HTTP requests by route and status, database and Redis errors.
//!
//! No label holds a key, a user or any other value without bound: routes are the router's
//! templates (`/api/v1/tasks/{id}/progress`), anything else is `unmatched`.
//!
//! The decision path pays one atomic add per counter: its counters are made once, one per
//! outcome × scope × window, instead of being looked up by label at every decision, and its
//! latency histogram is a row of atomic buckets (the library's histogram takes a lock per
//! observation, which the worker threads would contend on).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use flowgate_core::ratelimit::{Decision, Scope, Window};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of one series: names and values from the server's code, never from a request.
type Labels = Vec<(&'static str, String)>;

/// Database failures answered to a client (unreachable, busy, full, or unexpected): counted
/// where the error is translated, which has no server state at hand.
pub(crate) static DATABASE_ERRORS: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Calls to Redis that failed (timeouts, lost connections, errors).
pub(crate) static REDIS_ERRORS: LazyLock<Counter> = LazyLock::new(Counter::default);

const SCOPES: [Scope; 4] = [
    Scope::Global,
    Scope::Platform,
    Scope::Endpoint,
    Scope::PlatformEndpoint,
];

/// Upper bounds of the decision-latency buckets, in seconds: from a decision in process to one
/// waiting on a slow Redis.
const LATENCY_BOUNDS: [f64; 14] = [
    2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 5e-2, 1e-1,
];

/// The server's metrics and the registry that writes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `[allowed][scope][window]`.
    decisions: [[[Counter; 3]; 4]; 2],
    decision_seconds: LatencyHistogram,
    live_keys: Gauge,
    subscribers: Gauge,
    tasks: Family<Labels, Gauge>,
    retry_reports: Family<Labels, Counter>,
    http_requests: Family<Labels, Counter>,
    /// For the console's overview only: keys are never a label.
    denied_keys: DeniedKeys,
}

/// What a scrape reads from the server's state, not from counters.
#[derive(Debug, Default)]
pub struct Readings {
    /// Keys with state in the in-process limiter (`None` when buckets are in Redis).
    pub live_keys: Option<usize>,
    /// Open event streams.
    pub subscribers: usize,
    /// Tasks by status.
    pub tasks: Vec<(String, i64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every series, registered.
    #[must_use]
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("flowgate");
        let decisions_family = Family::<Labels, Counter>::default();
        let decisions = std::array::from_fn(|allowed| {
            std::array::from_fn(|scope| {
                std::array::from_fn(|window| {
                    decisions_family
                        .get_or_create(&vec![
                            ("allowed", (allowed == 1).to_string()),
                            ("scope", SCOPES[scope].as_str().to_string()),
                            ("window", Window::ALL[window].as_str().to_string()),
                        ])
                        .clone()
                })
            })
        });
        let (decision_seconds, live_keys, subscribers) = Default::default();
        let (tasks, retry_reports, http_requests) = Default::default();
        registry.register(
            "decisions",
            "Decisions of the decision service, by outcome and by the scope and window of the \
             bucket that bound them",
            decisions_family,
        );
        registry.register(
            "decision_seconds",
            "Time to decide, from the request's key to the decision (in process or in Redis)",
            LatencyHistogram::clone(&decision_seconds),
        );
        registry.register(
            "live_keys",
            "Keys holding state in the in-process limiter (0 when buckets are in Redis)",
            Gauge::clone(&live_keys),
        );
        registry.register(
            "sse_subscribers",
            "Open event streams of task progress",
            Gauge::clone(&subscribers),
        );
        registry.register("tasks", "Stored tasks by status", Family::clone(&tasks));
        registry.register(
            "retry_reports",
            "Retry reports received, by outcome",
            Family::clone(&retry_reports),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            Family::clone(&http_requests),
        );
        registry.register(
            "database_errors",
            "Database failures met while answering requests",
            DATABASE_ERRORS.clone(),
        );
        registry.register(
            "redis_errors",
            "Calls to Redis that failed",
            REDIS_ERRORS.clone(),
        );
        Metrics {
            registry,
            decisions,
            decision_seconds,
            live_keys,
            subscribers,
            tasks,
            retry_reports,
            http_requests,
            denied_keys: DeniedKeys::default(),
        }
    }

    /// Counts a decision and the time it took.
    pub fn decided(&self, decision: &Decision, took: Duration) {
        let scope = SCOPES
            .iter()
            .position(|s| *s == decision.scope)
            .unwrap_or(0);
        let window = Window::ALL
            .iter()
            .position(|w| *w == decision.window)
            .unwrap_or(0);
        self.decisions[usize::from(decision.allowed)][scope][window].inc();
        self.decision_seconds.observe(took);
    }

    /// Remembers a denial of `key` at `now` (seconds of any clock) for the overview's keys
    /// denied most.
    pub fn denied(&self, key: &str, now: Duration) {
        self.denied_keys.record(key, now.as_secs() / 60);
    }

    /// Decisions so far: allowed, denied, and the denials by the scope and window that bound
    /// them (those with any).
    pub fn decision_totals(&self) -> DecisionTotals {
        let mut totals = DecisionTotals::default();
        for (allowed, by_scope) in self.decisions.iter().enumerate() {
            for (scope, by_window) in by_scope.iter().enumerate() {
                for (window, counter) in by_window.iter().enumerate() {
                    let n = counter.get();
                    if allowed == 1 {
                        totals.allowed += n;
                    } else {
                        totals.denied += n;
                        if n > 0 {
                            totals.denials.push((SCOPES[scope], Window::ALL[window], n));
                        }
                    }
                }
            }
        }
        totals
    }

    /// The keys denied most in the five minutes before `now`, most first, at most `n`.
    pub fn top_denied(&self, now: Duration, n: usize) -> Vec<(String, u64)> {
        self.denied_keys.top(now.as_secs() / 60, n)
    }

    /// Counts a retry report.
    pub fn retry_reported(&self, outcome: &'static str) {
        self.retry_reports
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
    }

    /// Counts an answered request.
    pub fn answered(&self, route: &str, method: &str, status: u16) {
        self.http_requests
            .get_or_create(&vec![
                ("route", route.to_string()),
                ("method", method.to_string()),
                ("status", status.to_string()),
            ])
            .inc();
    }

    /// Every series in the OpenMetrics text format, with `readings` taken now.
    ///
    /// # Errors
    /// Only if formatting fails.
    pub fn render(&self, readings: &Readings) -> Result<String, std::fmt::Error> {
        self.live_keys.set(
            readings
                .live_keys
                .map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        );
        self.subscribers
            .set(i64::try_from(readings.subscribers).unwrap_or(i64::MAX));
        self.tasks.clear();
        for (status, count) in &readings.tasks {
            self.tasks
                .get_or_create(&vec![("status", status.clone())])
                .set(*count);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// A histogram of durations in fixed buckets, each an atomic counter.
#[derive(Debug, Clone, Default)]
struct LatencyHistogram(std::sync::Arc<LatencyBuckets>);

#[derive(Debug, Default)]
struct LatencyBuckets {
    /// One per bound, then one for what is above every bound.
    counts: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_ns: AtomicU64,
}

impl LatencyHistogram {
    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = LATENCY_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.0.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.0.sum_ns.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // The encoder sums the buckets itself; f64::MAX is its +Inf.
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS
            .iter()
            .chain([&f64::MAX])
            .zip(&self.0.counts)
            .map(|(bound, count)| (*bound, count.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = Duration::from_nanos(self.0.sum_ns.load(Ordering::Relaxed)).as_secs_f64();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Decision counts, as the console's overview shows them.
#[derive(Debug, Default)]
pub struct DecisionTotals {
    /// Allowed decisions.
    pub allowed: u64,
    /// Denied decisions.
    pub denied: u64,
    /// Denials by the scope and window that bound them.
    pub denials: Vec<(Scope, Window, u64)>,
}

/// Counters per key kept for each of the last five minutes.
const MINUTES: usize = 5;
/// Keys counted per minute: enough that the top 20 over five minutes are right for any load
/// where they stand out, in a fixed amount of memory.
const KEYS_PER_MINUTE: usize = 64;

/// The keys denied most in the last five minutes, in bounded memory: for each minute, the
/// Space-Saving sketch of Metwally, Agrawal and El Abbadi (a fixed number of counters; a key
/// that is not counted takes the place of the smallest, inheriting its count), whose counts of
/// keys denied often are exact or close. Only denials pass here, so the lock is not on the path
/// of an allowed decision.
#[derive(Debug, Default)]
struct DeniedKeys(Mutex<[Minute; MINUTES]>);

/// A minute (since the clock's start) and its counted keys.
type Minute = (u64, Vec<(String, u64)>);

impl DeniedKeys {
    fn record(&self, key: &str, minute: u64) {
        let mut minutes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, counts) = &mut minutes[(minute % MINUTES as u64) as usize];
        if *at != minute {
            *at = minute;
            counts.clear();
        }
        if let Some((_, n)) = counts.iter_mut().find(|(k, _)| k == key) {
            *n += 1;
        } else if counts.len() < KEYS_PER_MINUTE {
            counts.push((key.to_owned(), 1));
        } else if let Some(smallest) = counts.iter_mut().min_by_key(|(_, n)| *n) {
            *smallest = (key.to_owned(), smallest.1 + 1);
        }
    }

    fn top(&self, minute: u64, n: usize) -> Vec<(String, u64)> {
        let minutes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut merged: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for (at, counts) in minutes.iter() {
            if *at + (MINUTES as u64) > minute && *at <= minute {
                for (key, count) in counts {
                    *merged.entry(key.as_str()).or_default() += count;
                }
            }
        }
        let mut top: Vec<(String, u64)> =
            merged.into_iter().map(|(k, c)| (k.to_owned(), c)).collect();
        top.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(n);
        top
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_denied_most_stand_out_of_many_and_age_out_after_five_minutes() {
        let denied = DeniedKeys::default();
        for i in 0..10_000u64 {
            // One key in three is "hot"; the rest are all different.
            let key = if i % 3 == 0 {
                "hot".to_string()
            } else {
                format!("cold-{i}")
            };
            denied.record(&key, 100);
        }
        for _ in 0..50 {
            denied.record("warm", 101);
        }
        let top = denied.top(101, 2);
        assert_eq!(top[0].0, "hot");
        assert!(top[0].1 >= 3_334, "{top:?}");
        assert_eq!(top.len(), 2);
        // Minute 100 is out of the window at 105; minute 101 still in.
        assert_eq!(denied.top(105, 20), [("warm".to_string(), 50)]);
        assert!(denied.top(106, 20).is_empty());
    }
}
