//! Limits compiled from a valid [`RateLimitConfig`]: every bucket with its GCRA parameters,
//! and the lookups from a request's platform and endpoint to the buckets that apply.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroU32;

use arrayvec::ArrayVec;

use super::config::{RateLimitConfig, ScopeLimits, ScopeMode, Window};
use super::decision::Judged;
use super::gcra::Gcra;
use super::{Error, MAX_BUCKETS};
use crate::{FieldError, check_name};

/// Which kind of scope a bucket belongs to, in tie-break order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Scope {
    /// The global limits (`requests_per_*`, `max_burst`): they always apply.
    Global,
    /// The request's platform's limits.
    Platform,
    /// The request's endpoint's limits.
    Endpoint,
    /// The limits of the request's endpoint on the request's platform.
    PlatformEndpoint,
}

impl Scope {
    /// The scope's name in JSON and in `RateLimit` header items.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Platform => "platform",
            Scope::Endpoint => "endpoint",
            Scope::PlatformEndpoint => "platform_endpoint",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest key accepted where keys come from outside (the server's API, the component), in
/// bytes.
pub const MAX_KEY_LEN: usize = 256;
/// The longest endpoint or platform name accepted there, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// One request to check: where it goes and what it costs (default 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The endpoint called (`"media"`), if known; see
    /// [`extract_endpoint_from_url`](super::extract_endpoint_from_url).
    pub endpoint: Option<&'a str>,
    /// The platform called (`"mastodon"`), if known.
    pub platform: Option<&'a str>,
    /// Tokens the request spends from every applying bucket.
    pub cost: u32,
}

impl Default for Request<'_> {
    fn default() -> Self {
        Request {
            endpoint: None,
            platform: None,
            cost: 1,
        }
    }
}

impl<'a> Request<'a> {
    /// Whether `key` and the request's names are acceptable from outside: each non-empty, of
    /// bounded length (`MAX_KEY_LEN`, `MAX_NAME_LEN`), without control characters. The
    /// limiter itself takes any string; this is the rule of the API in front of it.
    ///
    /// # Errors
    /// The first offending field, as `/key`, `/endpoint` or `/platform`.
    pub fn check_names(&self, key: &str) -> Result<(), FieldError> {
        check_name("/key", key, MAX_KEY_LEN)?;
        if let Some(e) = self.endpoint {
            check_name("/endpoint", e, MAX_NAME_LEN)?;
        }
        if let Some(p) = self.platform {
            check_name("/platform", p, MAX_NAME_LEN)?;
        }
        Ok(())
    }

    /// A request of cost 1 to `endpoint` on `platform`.
    #[must_use]
    pub const fn new(endpoint: Option<&'a str>, platform: Option<&'a str>) -> Self {
        Request {
            endpoint,
            platform,
            cost: 1,
        }
    }

    /// The same request with another cost.
    #[must_use]
    pub const fn cost(mut self, cost: u32) -> Self {
        self.cost = cost;
        self
    }
}

/// One bucket's fixed description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketSpec {
    pub(crate) scope: Scope,
    /// The platform and endpoint names the scope is for (none for global), so that a change
    /// of limits can find the same bucket again.
    pub(crate) platform: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) window: Window,
    pub(crate) limit: u32,
    pub(crate) gcra: Gcra,
}

impl BucketSpec {
    /// The bucket as the all-or-nothing rule reads it.
    #[inline(always)]
    pub(crate) fn judged(&self) -> Judged<'_> {
        Judged {
            scope: self.scope,
            window: self.window,
            limit: self.limit,
            gcra: &self.gcra,
        }
    }

    fn same_bucket(&self, other: &BucketSpec) -> bool {
        self.scope == other.scope
            && self.window == other.window
            && self.platform == other.platform
            && self.endpoint == other.endpoint
    }
}

/// Indices into [`Limits::buckets`] of the buckets of one scope, shortest window first.
pub(crate) type ScopeBuckets = ArrayVec<u16, 3>;

/// A non-global scope's buckets, and the global windows it drops for its requests (a bit per
/// [`Window`], set by `mode: override` for each window the scope names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scoped {
    ids: ScopeBuckets,
    drops: u8,
}

impl core::ops::Deref for Scoped {
    type Target = [u16];

    fn deref(&self) -> &[u16] {
        &self.ids
    }
}

/// One window of a programmatic limit: `limit` per `window`, at most `burst` at once.
///
/// ```
/// use core::num::NonZeroU32;
/// use flowgate_core::ratelimit::{Quota, Window};
///
/// let quota = Quota::new(Window::Minute, NonZeroU32::new(60).unwrap())
///     .with_burst(NonZeroU32::new(10).unwrap());
/// assert_eq!(quota.capacity(), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    window: Window,
    limit: NonZeroU32,
    burst: Option<NonZeroU32>,
}

impl Quota {
    /// `limit` requests per `window`, all of which may pass at once.
    #[must_use]
    pub const fn new(window: Window, limit: NonZeroU32) -> Quota {
        Quota {
            window,
            limit,
            burst: None,
        }
    }

    /// The same quota with at most `burst` passing at once.
    #[must_use]
    pub const fn with_burst(mut self, burst: NonZeroU32) -> Quota {
        self.burst = Some(burst);
        self
    }

    /// How many requests may pass at once: `min(limit, burst)`.
    #[must_use]
    pub const fn capacity(&self) -> u32 {
        match self.burst {
            Some(b) if b.get() < self.limit.get() => b.get(),
            _ => self.limit.get(),
        }
    }
}

/// Compiled, immutable limits: the buckets of every scope and how to find them.
///
/// Built from a valid [`RateLimitConfig`] by [`Limits::new`], or from a list of [`Quota`]s
/// for a limiter that has only global windows ([`Limits::from_quotas`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub(crate) buckets: Vec<BucketSpec>,
    pub(crate) global: ScopeBuckets,
    platforms: BTreeMap<String, Scoped>,
    endpoints: BTreeMap<String, Scoped>,
    platform_endpoints: BTreeMap<String, BTreeMap<String, Scoped>>,
}

/// The buckets that apply to one request, in tie-break order (scope, then window).
///
/// A plain array and a count rather than an `ArrayVec`: filling it is the first thing every
/// check does, and an `ArrayVec` copies a scope's ids either one by one behind a capacity
/// check that may panic, or with a call to `memcpy` for a handful of bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applying {
    ids: [u16; MAX_BUCKETS],
    len: usize,
}

impl Applying {
    pub(crate) fn new() -> Applying {
        Applying {
            ids: [0; MAX_BUCKETS],
            len: 0,
        }
    }

    /// Appends a scope's ids. Each scope holds at most 3 buckets and there are 4 scopes, so
    /// `MAX_BUCKETS` always has room.
    #[inline(always)]
    fn add(&mut self, scope: &[u16]) {
        for &id in scope {
            if let Some(slot) = self.ids.get_mut(self.len) {
                *slot = id;
                self.len += 1;
            }
        }
    }
}

impl core::ops::Deref for Applying {
    type Target = [u16];

    fn deref(&self) -> &[u16] {
        &self.ids[..self.len]
    }
}

impl Limits {
    /// Compiles `config`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] with every problem [`RateLimitConfig::validate`] finds.
    pub fn new(config: &RateLimitConfig) -> Result<Limits, Error> {
        config.validate()?;
        let mut limits = Limits {
            buckets: Vec::new(),
            global: ScopeBuckets::new(),
            platforms: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            platform_endpoints: BTreeMap::new(),
        };
        let global = ScopeLimits {
            minute: Some(config.requests_per_minute),
            hour: Some(config.requests_per_hour),
            day: Some(config.requests_per_day),
            burst: Some(config.max_burst),
            mode: ScopeMode::All,
        };
        let cap = config.max_burst;
        limits.global = limits
            .add_scope(Scope::Global, None, None, &global, cap)
            .ids;
        for (platform, scope) in &config.platform_limits {
            let ids = limits.add_scope(Scope::Platform, Some(platform), None, scope, cap);
            limits.platforms.insert(platform.clone(), ids);
        }
        for (endpoint, scope) in &config.endpoint_limits {
            let ids = limits.add_scope(Scope::Endpoint, None, Some(endpoint), scope, cap);
            limits.endpoints.insert(endpoint.clone(), ids);
        }
        for (platform, endpoints) in &config.platform_endpoint_limits {
            let mut by_endpoint = BTreeMap::new();
            for (endpoint, scope) in endpoints {
                let ids = limits.add_scope(
                    Scope::PlatformEndpoint,
                    Some(platform),
                    Some(endpoint),
                    scope,
                    cap,
                );
                by_endpoint.insert(endpoint.clone(), ids);
            }
            limits
                .platform_endpoints
                .insert(platform.clone(), by_endpoint);
        }
        Ok(limits)
    }

    /// Limits with only global buckets, one per quota. A window given twice keeps the last.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `quotas` is empty.
    pub fn from_quotas(quotas: &[Quota]) -> Result<Limits, Error> {
        if quotas.is_empty() {
            return Err(Error::InvalidConfig(alloc::vec![crate::FieldError::new(
                "",
                "at least one quota is needed",
            )]));
        }
        let mut scope = ScopeLimits::default();
        let mut capacities = [None; 3];
        for q in quotas {
            scope.set(q.window, q.limit.get());
            capacities[q.window as usize] = Some(q.capacity());
        }
        let mut limits = Limits {
            buckets: Vec::new(),
            global: ScopeBuckets::new(),
            platforms: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            platform_endpoints: BTreeMap::new(),
        };
        for (window, limit) in scope.windows() {
            let capacity = capacities[window as usize].unwrap_or(limit);
            let id = limits.push_bucket(Scope::Global, None, None, window, limit, capacity);
            limits.global.push(id);
        }
        Ok(limits)
    }

    /// Adds a scope's buckets. `max_burst` caps the shortest window of a scope that overrides
    /// the global windows and gives no burst of its own: it stands in for the global minute
    /// bucket it drops, which carried that cap.
    fn add_scope(
        &mut self,
        scope: Scope,
        platform: Option<&String>,
        endpoint: Option<&String>,
        limits: &ScopeLimits,
        max_burst: u32,
    ) -> Scoped {
        let mut ids = ScopeBuckets::new();
        let mut drops = 0;
        let cap = match (limits.burst, limits.mode) {
            (Some(burst), _) => Some(burst),
            (None, ScopeMode::Override) => Some(max_burst),
            (None, ScopeMode::All) => None,
        };
        for (i, (window, limit)) in limits.windows().enumerate() {
            if limits.mode == ScopeMode::Override {
                drops |= 1 << window as u8;
            }
            // The shortest window carries the burst cap; the longer ones hold their whole limit.
            let capacity = match cap {
                Some(cap) if i == 0 => limit.min(cap),
                _ => limit,
            };
            ids.push(self.push_bucket(
                scope,
                platform.cloned(),
                endpoint.cloned(),
                window,
                limit,
                capacity,
            ));
        }
        Scoped { ids, drops }
    }

    fn push_bucket(
        &mut self,
        scope: Scope,
        platform: Option<String>,
        endpoint: Option<String>,
        window: Window,
        limit: u32,
        capacity: u32,
    ) -> u16 {
        let id = u16::try_from(self.buckets.len()).unwrap_or(u16::MAX);
        self.buckets.push(BucketSpec {
            scope,
            platform,
            endpoint,
            window,
            limit,
            gcra: Gcra::new(limit, capacity, window.seconds() * 1_000_000_000),
        });
        id
    }

    /// Fills `ids` (a new list) with the buckets that apply to `request`, in tie-break order,
    /// after checking its cost against them.
    ///
    /// Inlined into every check, which fills a list of its own in place: called out of line,
    /// building the list cost about a seventh of a keyed check whose key is in cache, and
    /// returned by value (in a `Result`) it was moved with a copy that read its ids back wider
    /// than they were written, a store the CPU cannot forward (another eighth).
    #[inline(always)]
    pub(crate) fn applying(&self, request: &Request<'_>, ids: &mut Applying) -> Result<(), Error> {
        self.fill_applying(request, ids);
        self.check_cost(ids, request.cost)
    }

    /// The buckets that apply to `request`, whatever its cost (for tests).
    #[cfg(test)]
    pub(crate) fn applying_ids(&self, request: &Request<'_>) -> Applying {
        let mut ids = Applying::new();
        self.fill_applying(request, &mut ids);
        ids
    }

    /// Adds the buckets that apply to `request` to `ids`, in tie-break order: the global ones
    /// but those an applying `override` scope drops, then each applying scope's.
    #[inline(always)]
    fn fill_applying(&self, request: &Request<'_>, ids: &mut Applying) {
        let platform = request.platform.and_then(|p| self.platforms.get(p));
        let endpoint = request.endpoint.and_then(|e| self.endpoints.get(e));
        let both = match (request.platform, request.endpoint) {
            (Some(p), Some(e)) => self.platform_endpoints.get(p).and_then(|m| m.get(e)),
            _ => None,
        };
        let scopes = [platform, endpoint, both];
        let drops = scopes.iter().flatten().fold(0, |d, s| d | s.drops);
        if drops == 0 {
            ids.add(&self.global);
        } else {
            for &id in &self.global {
                if drops & (1 << self.bucket(id).window as u8) == 0 {
                    ids.add(&[id]);
                }
            }
        }
        for scope in scopes.into_iter().flatten() {
            ids.add(scope);
        }
    }

    /// Refuses a cost of zero, and a cost that no refill could ever let through the smallest
    /// of `ids`' buckets.
    #[inline(always)]
    fn check_cost(&self, ids: &[u16], cost: u32) -> Result<(), Error> {
        if cost == 0 {
            return Err(Error::ZeroCost);
        }
        // Every bucket holds at least one token, so a cost of one (most checks) always fits.
        if cost > 1
            && let Some(&smallest) = ids
                .iter()
                .min_by_key(|&&id| self.bucket(id).gcra.capacity())
            && self.bucket(smallest).gcra.capacity() < cost
        {
            let b = self.bucket(smallest);
            return Err(Error::CostExceedsCapacity {
                cost,
                capacity: b.gcra.capacity(),
                scope: b.scope,
                window: b.window,
            });
        }
        Ok(())
    }

    pub(crate) fn bucket(&self, id: u16) -> &BucketSpec {
        &self.buckets[usize::from(id)]
    }

    /// The index in `self` of the bucket `other` calls `id`, if it still exists.
    pub(crate) fn find_same(&self, other: &Limits, id: u16) -> Option<u16> {
        let spec = other.bucket(id);
        let candidates: &[u16] = match spec.scope {
            Scope::Global => &self.global,
            Scope::Platform => self.platforms.get(spec.platform.as_deref()?)?,
            Scope::Endpoint => self.endpoints.get(spec.endpoint.as_deref()?)?,
            Scope::PlatformEndpoint => self
                .platform_endpoints
                .get(spec.platform.as_deref()?)?
                .get(spec.endpoint.as_deref()?)?,
        };
        candidates
            .iter()
            .copied()
            .find(|&c| self.bucket(c).same_bucket(spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RateLimitConfig {
        let mut c = RateLimitConfig {
            max_burst: 5,
            ..RateLimitConfig::default()
        };
        c.endpoint_limits.insert(
            "media".into(),
            ScopeLimits {
                minute: Some(10),
                hour: Some(100),
                ..Default::default()
            },
        );
        c.platform_limits.insert(
            "mastodon".into(),
            ScopeLimits {
                hour: Some(300),
                burst: Some(2),
                ..Default::default()
            },
        );
        let mut pe = BTreeMap::new();
        pe.insert(
            "media".into(),
            ScopeLimits {
                day: Some(50),
                ..Default::default()
            },
        );
        c.platform_endpoint_limits.insert("mastodon".into(), pe);
        c
    }

    /// The buckets applying to a request: scope, window and capacity.
    fn applying(
        limits: &Limits,
        endpoint: Option<&str>,
        platform: Option<&str>,
    ) -> Vec<(Scope, Window, u32)> {
        limits
            .applying_ids(&Request::new(endpoint, platform))
            .iter()
            .map(|&i| {
                let b = limits.bucket(i);
                (b.scope, b.window, b.gcra.capacity())
            })
            .collect()
    }

    /// `mode: override`: a platform allowed 300 a minute uses them under a global 60 a minute;
    /// the global windows it does not name stay; the global burst cap leaves with the global
    /// minute bucket and caps the scope's minute instead, unless the scope has a burst.
    #[test]
    fn an_override_scope_replaces_the_global_windows_it_names() {
        let mut c = RateLimitConfig {
            requests_per_minute: 60,
            requests_per_hour: 1_000,
            requests_per_day: 10_000,
            max_burst: 10,
            ..RateLimitConfig::default()
        };
        let over = |minute: Option<u32>, hour: Option<u32>, burst: Option<u32>| ScopeLimits {
            minute,
            hour,
            burst,
            mode: ScopeMode::Override,
            ..ScopeLimits::default()
        };
        c.platform_limits
            .insert("mastodon".into(), over(Some(300), None, None));
        c.platform_limits
            .insert("pixelfed".into(), over(Some(300), None, Some(50)));
        c.endpoint_limits
            .insert("media".into(), over(None, Some(40), None));
        c.endpoint_limits.insert(
            "statuses".into(),
            ScopeLimits {
                minute: Some(30),
                ..ScopeLimits::default()
            },
        );
        let limits = Limits::new(&c).unwrap();
        use {Scope::*, Window::*};
        assert_eq!(
            applying(&limits, None, Some("mastodon")),
            alloc::vec![
                (Global, Hour, 1_000),
                (Global, Day, 10_000),
                (Platform, Minute, 10)
            ]
        );
        assert_eq!(
            applying(&limits, None, Some("pixelfed")),
            alloc::vec![
                (Global, Hour, 1_000),
                (Global, Day, 10_000),
                (Platform, Minute, 50)
            ]
        );
        // Without the scope, the global minute (capped by max_burst) is there as ever.
        assert_eq!(
            applying(&limits, None, None),
            alloc::vec![
                (Global, Minute, 10),
                (Global, Hour, 1_000),
                (Global, Day, 10_000)
            ]
        );
        // Two override scopes each drop what they name, and both apply. (An override scope's
        // shortest window is its hour here: max_burst caps it.)
        assert_eq!(
            applying(&limits, Some("media"), Some("mastodon")),
            alloc::vec![
                (Global, Day, 10_000),
                (Platform, Minute, 10),
                (Endpoint, Hour, 10)
            ]
        );
        // A scope of mode all drops nothing and keeps its whole limit.
        assert_eq!(
            applying(&limits, Some("statuses"), None),
            alloc::vec![
                (Global, Minute, 10),
                (Global, Hour, 1_000),
                (Global, Day, 10_000),
                (Endpoint, Minute, 30)
            ]
        );
    }

    #[test]
    fn applying_buckets_come_in_scope_then_window_order() {
        let limits = Limits::new(&config()).unwrap();
        let ids = limits.applying_ids(&Request::new(Some("media"), Some("mastodon")));
        let order: Vec<(Scope, Window)> = ids
            .iter()
            .map(|&i| (limits.bucket(i).scope, limits.bucket(i).window))
            .collect();
        assert_eq!(
            order,
            alloc::vec![
                (Scope::Global, Window::Minute),
                (Scope::Global, Window::Hour),
                (Scope::Global, Window::Day),
                (Scope::Platform, Window::Hour),
                (Scope::Endpoint, Window::Minute),
                (Scope::Endpoint, Window::Hour),
                (Scope::PlatformEndpoint, Window::Day),
            ]
        );
        // An unconfigured endpoint or platform adds nothing.
        assert_eq!(
            limits
                .applying_ids(&Request::new(Some("statuses"), Some("pixelfed")))
                .len(),
            3
        );
    }

    #[test]
    fn the_shortest_window_of_a_scope_carries_its_burst() {
        let limits = Limits::new(&config()).unwrap();
        let caps: Vec<u32> = limits.buckets.iter().map(|b| b.gcra.capacity()).collect();
        // global minute min(60, 5), hour, day; mastodon hour min(300, 2);
        // media minute, hour (no burst); mastodon × media day.
        assert_eq!(caps, alloc::vec![5, 1000, 10000, 2, 10, 100, 50]);
    }
}
