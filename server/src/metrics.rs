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

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
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
pub static DATABASE_ERRORS: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Calls to Redis that failed (timeouts, lost connections, errors).
pub static REDIS_ERRORS: LazyLock<Counter> = LazyLock::new(Counter::default);

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
