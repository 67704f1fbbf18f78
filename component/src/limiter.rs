//! `flowgate:core/limiter`: the core's `Limiter` as a `rate-limiter`.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;

use flowgate_core::document::from_json_tracked as from_json;
use flowgate_core::ratelimit::{
    self, BucketStatus, Decision, Limiter, RateLimitConfig, Request, Scope, Window,
};

use crate::exports::flowgate::core::limiter as wit;
use crate::{Flowgate, document_error, field_error, field_errors};

/// A limiter, and the document of its limits, to give back.
pub(crate) struct RateLimiter {
    config: RateLimitConfig,
    state: RefCell<Limiter>,
}

impl RateLimiter {
    fn build(config: RateLimitConfig, hash_seed: u64) -> Result<Self, ratelimit::Error> {
        Ok(RateLimiter {
            state: RefCell::new(Limiter::new(&config, hash_seed)?),
            config,
        })
    }
}

fn scope(s: Scope) -> wit::Scope {
    match s {
        Scope::Global => wit::Scope::Global,
        Scope::Endpoint => wit::Scope::Endpoint,
        Scope::Platform => wit::Scope::Platform,
        Scope::PlatformEndpoint => wit::Scope::PlatformEndpoint,
    }
}

fn window(w: Window) -> wit::Window {
    match w {
        Window::Minute => wit::Window::Minute,
        Window::Hour => wit::Window::Hour,
        Window::Day => wit::Window::Day,
    }
}

fn ns(d: Duration) -> u64 {
    flowgate_core::nanos(d)
}

fn bucket(b: BucketStatus) -> wit::BucketStatus {
    wit::BucketStatus {
        scope: scope(b.scope),
        window: window(b.window),
        limit: b.limit,
        capacity: b.capacity,
        remaining: b.remaining,
        reset_after_ns: ns(b.reset_after),
        retry_after_ns: ns(b.retry_after),
    }
}

fn decision(d: &Decision) -> wit::Decision {
    wit::Decision {
        allowed: d.allowed,
        scope: scope(d.scope),
        window: window(d.window),
        limit: d.limit,
        remaining: d.remaining,
        reset_after_ns: ns(d.reset_after),
        retry_after_ns: ns(d.retry_after),
        next_token_after_ns: ns(d.next_token_after),
        buckets: d.buckets().map(bucket).collect(),
    }
}

fn request_error(e: ratelimit::Error) -> wit::RequestError {
    match e {
        ratelimit::Error::ZeroCost => wit::RequestError::ZeroCost,
        ratelimit::Error::CostExceedsCapacity {
            cost,
            capacity,
            scope: s,
            window: w,
        } => wit::RequestError::CostExceedsCapacity(wit::CapacityExceeded {
            cost,
            capacity,
            scope: scope(s),
            window: window(w),
        }),
        // Asking never fails otherwise; should the core add a reason, it is still an answer.
        other => wit::RequestError::InvalidArgument(wit::FieldError {
            pointer: String::from("/cost"),
            detail: alloc::string::ToString::to_string(&other),
        }),
    }
}

/// The request as the core takes it, once its names pass the API's rule.
fn checked<'a>(key: &str, r: &'a wit::Request) -> Result<Request<'a>, wit::RequestError> {
    let request = Request {
        endpoint: r.endpoint.as_deref(),
        platform: r.platform.as_deref(),
        cost: r.cost,
    };
    request
        .check_names(key)
        .map_err(|e| wit::RequestError::InvalidArgument(field_error(e)))?;
    Ok(request)
}

fn check_key(key: &str) -> Result<(), wit::RequestError> {
    checked(
        key,
        &wit::Request {
            endpoint: None,
            platform: None,
            cost: 1,
        },
    )
    .map(drop)
}

impl wit::Guest for Flowgate {
    type RateLimiter = RateLimiter;

    fn extract_endpoint_from_url(url: String) -> Option<String> {
        ratelimit::extract_endpoint_from_url(&url)
    }
}

impl wit::GuestRateLimiter for RateLimiter {
    fn new(hash_seed: u64) -> Self {
        RateLimiter::build(RateLimitConfig::default(), hash_seed)
            .unwrap_or_else(|_| unreachable!("the default limits are valid"))
    }

    fn from_json(limits: String, hash_seed: u64) -> Result<wit::RateLimiter, wit::DocumentError> {
        let config: RateLimitConfig = from_json(limits.as_bytes()).map_err(document_error)?;
        match RateLimiter::build(config, hash_seed) {
            Ok(limiter) => Ok(wit::RateLimiter::new(limiter)),
            Err(ratelimit::Error::InvalidConfig(errors)) => {
                Err(wit::DocumentError::Invalid(field_errors(errors)))
            }
            Err(other) => Err(wit::DocumentError::Invalid(alloc::vec![wit::FieldError {
                pointer: String::new(),
                detail: alloc::string::ToString::to_string(&other),
            }])),
        }
    }

    fn limits_json(&self) -> String {
        serde_json::to_string(&self.config)
            .unwrap_or_else(|_| unreachable!("a limits document always serialises"))
    }

    fn is_allowed(
        &self,
        key: String,
        request: wit::Request,
        now_ns: u64,
    ) -> Result<wit::Decision, wit::RequestError> {
        let r = checked(&key, &request)?;
        let now = Duration::from_nanos(now_ns);
        let d = self.state.borrow_mut().is_allowed(&key, &r, now);
        d.map(|d| decision(&d)).map_err(request_error)
    }

    fn check(
        &self,
        key: String,
        request: wit::Request,
        now_ns: u64,
    ) -> Result<wit::Admission, wit::RequestError> {
        let r = checked(&key, &request)?;
        let now = Duration::from_nanos(now_ns);
        let a = self.state.borrow_mut().check(&key, &r, now);
        a.map(|a| wit::Admission {
            allowed: a.allowed,
            retry_after_ns: ns(a.retry_after),
        })
        .map_err(request_error)
    }

    fn wait_time(
        &self,
        key: String,
        request: wit::Request,
        now_ns: u64,
    ) -> Result<u64, wit::RequestError> {
        let r = checked(&key, &request)?;
        let now = Duration::from_nanos(now_ns);
        let wait = self.state.borrow().wait_time(&key, &r, now);
        wait.map(ns).map_err(request_error)
    }

    fn key_state(
        &self,
        key: String,
        now_ns: u64,
    ) -> Result<Vec<wit::BucketStatus>, wit::RequestError> {
        check_key(&key)?;
        let now = Duration::from_nanos(now_ns);
        let buckets = self.state.borrow().buckets(&key, now);
        Ok(buckets.into_iter().map(bucket).collect())
    }

    fn reset(&self, key: String) -> Result<bool, wit::RequestError> {
        check_key(&key)?;
        Ok(self.state.borrow_mut().reset(&key))
    }

    fn sweep(&self, now_ns: u64) -> u32 {
        let swept = self.state.borrow_mut().sweep(Duration::from_nanos(now_ns));
        u32::try_from(swept).unwrap_or(u32::MAX)
    }

    fn active_keys(&self) -> u32 {
        u32::try_from(self.state.borrow().len()).unwrap_or(u32::MAX)
    }
}
