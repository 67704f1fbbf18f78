//! The limits document: what an operator writes, in the reference API's snake_case form.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroU32;

use super::Error;
use crate::field::{FieldError, pointer_token};

/// A time window a limit counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Window {
    /// 60 seconds.
    Minute,
    /// 3,600 seconds.
    Hour,
    /// 86,400 seconds.
    Day,
}

impl Window {
    /// Every window, shortest first: the order ties are broken in.
    pub const ALL: [Window; 3] = [Window::Minute, Window::Hour, Window::Day];

    /// The window's length in seconds.
    #[must_use]
    pub const fn seconds(self) -> u64 {
        match self {
            Window::Minute => 60,
            Window::Hour => 3_600,
            Window::Day => 86_400,
        }
    }

    /// The window's name as it appears in JSON, headers and environment variables
    /// (lowercase).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::Day => "day",
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a scope's limits combine with the global ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ScopeMode {
    /// Both apply: a request passes only if the global buckets and the scope's all allow it.
    #[default]
    All,
    /// For the requests the scope applies to, its windows replace the global ones of the same
    /// window (a platform allowed 300 a minute may use them under a global 60 a minute); the
    /// global windows it does not name still apply. The global burst cap goes with the global
    /// minute bucket; the scope's shortest window is capped by its own `burst`, else by
    /// `max_burst`.
    Override,
}

impl ScopeMode {
    /// Its name in JSON and in the environment (`RATE_LIMIT_MASTODON_MODE=override`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ScopeMode::All => "all",
            ScopeMode::Override => "override",
        }
    }

    /// The mode named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<ScopeMode> {
        match name {
            "all" => Some(ScopeMode::All),
            "override" => Some(ScopeMode::Override),
            _ => None,
        }
    }

    #[cfg(feature = "serde")]
    #[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
    fn is_all(&self) -> bool {
        *self == ScopeMode::All
    }
}

/// The limits of one endpoint, platform or platform × endpoint scope: any of the three
/// windows, optionally a `burst` that caps the scope's shortest window, and how they combine
/// with the global limits (`mode`, default `all`).
///
/// ```json
/// {"minute": 5, "hour": 100, "burst": 2}
/// {"minute": 300, "mode": "override"}
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ScopeLimits {
    /// Requests per minute.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub minute: Option<u32>,
    /// Requests per hour.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub hour: Option<u32>,
    /// Requests per day.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub day: Option<u32>,
    /// What may pass at once: the capacity of the scope's shortest window is
    /// `min(limit, burst)`. Without it the shortest window holds its whole limit (or, under
    /// `override`, `min(limit, max_burst)`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub burst: Option<u32>,
    /// `all` (the default): the global limits apply too; `override`: the scope's windows
    /// replace the global windows of the same name for its requests (see [`ScopeMode`]).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "ScopeMode::is_all")
    )]
    pub mode: ScopeMode,
}

impl ScopeLimits {
    /// The limit for `window`, if the scope names one.
    #[must_use]
    pub const fn get(&self, window: Window) -> Option<u32> {
        match window {
            Window::Minute => self.minute,
            Window::Hour => self.hour,
            Window::Day => self.day,
        }
    }

    /// Sets the limit for `window`.
    pub fn set(&mut self, window: Window, limit: u32) {
        match window {
            Window::Minute => self.minute = Some(limit),
            Window::Hour => self.hour = Some(limit),
            Window::Day => self.day = Some(limit),
        }
    }

    /// The windows this scope names, shortest first, with their limits.
    pub fn windows(&self) -> impl Iterator<Item = (Window, u32)> + '_ {
        Window::ALL
            .into_iter()
            .filter_map(|w| self.get(w).map(|limit| (w, limit)))
    }
}

/// The rate-limit configuration: global limits per minute, hour and day with a burst cap, and
/// per-endpoint, per-platform and per-platform-endpoint limits on top.
///
/// Field names and defaults are the reference API's; its JSON form is the document the server's
/// `GET/PUT /api/v1/limits` and the npm package take:
///
/// ```json
/// {"requests_per_minute": 30, "requests_per_hour": 500, "requests_per_day": 10000,
///  "max_burst": 10,
///  "endpoint_limits": {"media": {"minute": 10, "hour": 100}},
///  "platform_limits": {"mastodon": {"minute": 300}},
///  "platform_endpoint_limits": {"pixelfed": {"media": {"minute": 5, "burst": 2}}}}
/// ```
///
/// The document is plain data; [`RateLimitConfig::validate`] reports every problem in it, and
/// a limiter is only ever built from a valid one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct RateLimitConfig {
    /// Global requests per minute. Default 60.
    pub requests_per_minute: u32,
    /// Global requests per hour. Default 1,000.
    pub requests_per_hour: u32,
    /// Global requests per day. Default 10,000.
    pub requests_per_day: u32,
    /// What may pass at once, globally: the capacity of the global minute bucket is
    /// `min(requests_per_minute, max_burst)`. Default 10.
    pub max_burst: u32,
    /// Limits per endpoint (`"media"`, `"statuses"`, ...).
    pub endpoint_limits: BTreeMap<String, ScopeLimits>,
    /// Limits per platform (`"mastodon"`, `"pixelfed"`, ...).
    pub platform_limits: BTreeMap<String, ScopeLimits>,
    /// Limits per platform, then per endpoint.
    pub platform_endpoint_limits: BTreeMap<String, BTreeMap<String, ScopeLimits>>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            requests_per_minute: 60,
            requests_per_hour: 1_000,
            requests_per_day: 10_000,
            max_burst: 10,
            endpoint_limits: BTreeMap::new(),
            platform_limits: BTreeMap::new(),
            platform_endpoint_limits: BTreeMap::new(),
        }
    }
}

impl RateLimitConfig {
    /// Each of `n` limiters' share of these limits, for servers that must limit alone what
    /// they normally limit together (the shared store is unreachable): every limit and burst
    /// becomes `max(1, ⌊L / n⌋)`, so `n` of them together admit at most what one would (never
    /// less than one request per window each).
    ///
    /// ```
    /// use core::num::NonZeroU32;
    /// use flowgate_core::ratelimit::RateLimitConfig;
    ///
    /// let share = RateLimitConfig::default().divided_among(NonZeroU32::new(3).unwrap());
    /// assert_eq!((share.requests_per_minute, share.max_burst), (20, 3));
    /// ```
    #[must_use]
    pub fn divided_among(&self, n: NonZeroU32) -> RateLimitConfig {
        let share = |limit: u32| (limit / n.get()).max(1);
        let scope = |s: &ScopeLimits| ScopeLimits {
            minute: s.minute.map(share),
            hour: s.hour.map(share),
            day: s.day.map(share),
            burst: s.burst.map(share),
            mode: s.mode,
        };
        let scopes = |m: &BTreeMap<String, ScopeLimits>| -> BTreeMap<String, ScopeLimits> {
            m.iter().map(|(name, s)| (name.clone(), scope(s))).collect()
        };
        RateLimitConfig {
            requests_per_minute: share(self.requests_per_minute),
            requests_per_hour: share(self.requests_per_hour),
            requests_per_day: share(self.requests_per_day),
            max_burst: share(self.max_burst),
            endpoint_limits: scopes(&self.endpoint_limits),
            platform_limits: scopes(&self.platform_limits),
            platform_endpoint_limits: self
                .platform_endpoint_limits
                .iter()
                .map(|(platform, endpoints)| (platform.clone(), scopes(endpoints)))
                .collect(),
        }
    }

    /// Every problem in the document, or `Ok` when a limiter can be built from it.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] listing each offending field: a limit or burst of zero, a scope
    /// naming no window, an empty scope name.
    pub fn validate(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        for (field, value) in [
            ("requests_per_minute", self.requests_per_minute),
            ("requests_per_hour", self.requests_per_hour),
            ("requests_per_day", self.requests_per_day),
            ("max_burst", self.max_burst),
        ] {
            if value == 0 {
                errors.push(FieldError::new(
                    format!("/{field}"),
                    "must be a positive integer",
                ));
            }
        }
        for (name, limits) in &self.endpoint_limits {
            validate_scope(
                &format!("/endpoint_limits/{}", pointer_token(name)),
                name,
                limits,
                &mut errors,
            );
        }
        for (name, limits) in &self.platform_limits {
            validate_scope(
                &format!("/platform_limits/{}", pointer_token(name)),
                name,
                limits,
                &mut errors,
            );
        }
        for (platform, endpoints) in &self.platform_endpoint_limits {
            let base = format!("/platform_endpoint_limits/{}", pointer_token(platform));
            if platform.trim().is_empty() {
                errors.push(FieldError::new(
                    base.clone(),
                    "platform name must not be empty",
                ));
            }
            if endpoints.is_empty() {
                errors.push(FieldError::new(
                    base.clone(),
                    "names no endpoint: give at least one endpoint's limits",
                ));
            }
            for (name, limits) in endpoints {
                validate_scope(
                    &format!("{base}/{}", pointer_token(name)),
                    name,
                    limits,
                    &mut errors,
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidConfig(errors))
        }
    }
}

fn validate_scope(pointer: &str, name: &str, limits: &ScopeLimits, errors: &mut Vec<FieldError>) {
    if name.trim().is_empty() {
        errors.push(FieldError::new(pointer, "name must not be empty"));
    }
    if limits.windows().next().is_none() {
        errors.push(FieldError::new(
            pointer,
            "names no window: give at least one of minute, hour, day",
        ));
    }
    for window in Window::ALL {
        if limits.get(window) == Some(0) {
            errors.push(FieldError::new(
                format!("{pointer}/{window}"),
                "must be a positive integer",
            ));
        }
    }
    if limits.burst == Some(0) {
        errors.push(FieldError::new(
            format!("{pointer}/burst"),
            "must be a positive integer",
        ));
    }
}

impl RateLimitConfig {
    /// Reads a configuration from `(name, value)` pairs, starting from the defaults: what
    /// [`RateLimitConfig::from_env`] does with the process environment, for any source of
    /// variables (and without `std`). Pairs without the prefix are ignored.
    ///
    /// ```
    /// use flowgate_core::ratelimit::RateLimitConfig;
    /// let c = RateLimitConfig::from_vars("RATE_LIMIT", [("RATE_LIMIT_PIXELFED_ENDPOINT_MEDIA_MINUTE", "5")])?;
    /// assert_eq!(c.platform_endpoint_limits["pixelfed"]["media"].minute, Some(5));
    /// # Ok::<(), flowgate_core::ratelimit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Env`] naming the first variable whose value is not a positive integer or whose
    /// name has the prefix but fits no pattern; [`Error::InvalidConfig`] if the result is invalid.
    pub fn from_vars<I, K, V>(prefix: &str, vars: I) -> Result<RateLimitConfig, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        RateLimitConfig::default().with_vars(prefix, vars)
    }

    /// This configuration with the limits named by `(name, value)` pairs laid over it: what
    /// [`RateLimitConfig::from_vars`] does, from other defaults than the reference API's.
    ///
    /// # Errors
    /// As [`RateLimitConfig::from_vars`].
    pub fn with_vars<I, K, V>(self, prefix: &str, vars: I) -> Result<RateLimitConfig, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        from_vars(self, prefix, vars)
    }
}

fn from_vars<I, K, V>(
    mut config: RateLimitConfig,
    prefix: &str,
    vars: I,
) -> Result<RateLimitConfig, Error>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let head = format!("{prefix}_");
    // Sorted, so that the outcome does not depend on the order the environment lists them in.
    let mut matching: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.as_ref().starts_with(&head))
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    matching.sort();
    for (name, raw) in matching {
        let rest = &name[head.len()..];
        if let Some(scope) = rest.strip_suffix("_MODE") {
            let mode = ScopeMode::parse(raw.trim()).ok_or_else(|| Error::Env {
                variable: name.clone(),
                detail: format!("must be all or override, got {raw:?}"),
            })?;
            scope_limits(&mut config, scope).mode = mode;
            continue;
        }
        let value = parse_positive(&name, &raw)?;
        apply_var(&mut config, &name, rest, value)?;
    }
    config.validate()?;
    Ok(config)
}

fn parse_positive(name: &str, raw: &str) -> Result<u32, Error> {
    match raw.trim().parse::<u32>() {
        Ok(0) => Err(Error::Env {
            variable: name.to_string(),
            detail: "must be a positive integer, got 0".to_string(),
        }),
        Ok(v) => Ok(v),
        Err(_) => Err(Error::Env {
            variable: name.to_string(),
            detail: format!("must be a positive integer, got {raw:?}"),
        }),
    }
}

/// The timeframe token that ends a scoped variable's name.
enum Timeframe {
    Window(Window),
    Burst,
}

fn split_timeframe(rest: &str) -> Option<(&str, Timeframe)> {
    let (head, tf) = rest.rsplit_once('_')?;
    let tf = match tf {
        "MINUTE" => Timeframe::Window(Window::Minute),
        "HOUR" => Timeframe::Window(Window::Hour),
        "DAY" => Timeframe::Window(Window::Day),
        "BURST" => Timeframe::Burst,
        _ => return None,
    };
    (!head.is_empty()).then_some((head, tf))
}

fn apply_var(
    config: &mut RateLimitConfig,
    name: &str,
    rest: &str,
    value: u32,
) -> Result<(), Error> {
    match rest {
        "REQUESTS_PER_MINUTE" => config.requests_per_minute = value,
        "REQUESTS_PER_HOUR" => config.requests_per_hour = value,
        "REQUESTS_PER_DAY" => config.requests_per_day = value,
        "MAX_BURST" => config.max_burst = value,
        _ => {
            let Some((scope, tf)) = split_timeframe(rest) else {
                return Err(Error::Env {
                    variable: name.to_string(),
                    detail: "not a rate-limit variable: a scoped name ends in _MINUTE, _HOUR, _DAY or _BURST".to_string(),
                });
            };
            let limits = scope_limits(config, scope);
            match tf {
                Timeframe::Window(window) => limits.set(window, value),
                Timeframe::Burst => limits.burst = Some(value),
            }
        }
    }
    Ok(())
}

/// The limits of the scope a variable's name (without prefix and timeframe) names, made empty
/// when new: `ENDPOINT_<e>`, `<p>_ENDPOINT_<e>`, else the platform `<p>`.
fn scope_limits<'c>(config: &'c mut RateLimitConfig, scope: &str) -> &'c mut ScopeLimits {
    if let Some(endpoint) = scope.strip_prefix("ENDPOINT_") {
        config
            .endpoint_limits
            .entry(endpoint.to_ascii_lowercase())
            .or_default()
    } else if let Some((platform, endpoint)) = scope.split_once("_ENDPOINT_") {
        config
            .platform_endpoint_limits
            .entry(platform.to_ascii_lowercase())
            .or_default()
            .entry(endpoint.to_ascii_lowercase())
            .or_default()
    } else {
        config
            .platform_limits
            .entry(scope.to_ascii_lowercase())
            .or_default()
    }
}

#[cfg(feature = "std")]
impl RateLimitConfig {
    /// Reads a configuration from the process environment, starting from the defaults:
    ///
    /// | variable | sets |
    /// |---|---|
    /// | `<P>_REQUESTS_PER_MINUTE`, `_HOUR`, `_DAY` | the global limits |
    /// | `<P>_MAX_BURST` | the global burst |
    /// | `<P>_ENDPOINT_<endpoint>_<TF>` | an endpoint's limit |
    /// | `<P>_<platform>_ENDPOINT_<endpoint>_<TF>` | a platform × endpoint limit |
    /// | `<P>_<platform>_<TF>` | a platform's limit |
    /// | `<P>_<scope>_MODE` | `all` or `override` for a scope named as above |
    ///
    /// `<TF>`, the last `_`-separated token, is `MINUTE`, `HOUR`, `DAY` or `BURST`, so names
    /// may themselves contain `_`; names are lowercased. The patterns are tried in the order of
    /// the table.
    ///
    /// ```
    /// # use flowgate_core::ratelimit::RateLimitConfig;
    /// // With RATE_LIMIT_MASTODON_ENDPOINT_MEDIA_MINUTE=5 set, the result has
    /// // platform_endpoint_limits["mastodon"]["media"].minute == Some(5).
    /// let config = RateLimitConfig::from_env("RATE_LIMIT")?;
    /// # Ok::<(), flowgate_core::ratelimit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Env`] naming the variable when a value is not a positive integer, is not valid
    /// Unicode, or a name with the prefix fits none of the patterns: a typo is reported, never
    /// silently ignored.
    pub fn from_env(prefix: &str) -> Result<RateLimitConfig, Error> {
        RateLimitConfig::default().with_env(prefix)
    }

    /// This configuration with the limits the process environment names under `prefix` laid
    /// over it (see [`RateLimitConfig::from_env`]).
    ///
    /// # Errors
    /// As [`RateLimitConfig::from_env`].
    pub fn with_env(self, prefix: &str) -> Result<RateLimitConfig, Error> {
        let head = format!("{prefix}_");
        let mut vars = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(&head) {
                continue;
            }
            let Some(value) = value.to_str() else {
                return Err(Error::Env {
                    variable: name.to_string(),
                    detail: "value is not valid Unicode".to_string(),
                });
            };
            vars.push((name.to_string(), value.to_string()));
        }
        from_vars(self, prefix, vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// `<P>_<scope>_MODE` sets a scope's mode; anything but all or override is named.
    #[test]
    fn the_environment_sets_a_scopes_mode() {
        let c = RateLimitConfig::from_vars(
            "RATE_LIMIT",
            [
                ("RATE_LIMIT_MASTODON_MINUTE", "300"),
                ("RATE_LIMIT_MASTODON_MODE", "override"),
                ("RATE_LIMIT_ENDPOINT_MEDIA_HOUR", "40"),
                ("RATE_LIMIT_ENDPOINT_MEDIA_MODE", "all"),
            ],
        )
        .unwrap();
        assert_eq!(c.platform_limits["mastodon"].mode, ScopeMode::Override);
        assert_eq!(c.endpoint_limits["media"].mode, ScopeMode::All);
        let err = RateLimitConfig::from_vars(
            "RATE_LIMIT",
            [
                ("RATE_LIMIT_MASTODON_MINUTE", "300"),
                ("RATE_LIMIT_MASTODON_MODE", "replace"),
            ],
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Env { variable, detail } if variable == "RATE_LIMIT_MASTODON_MODE" && detail.contains("override")),
            "{err}"
        );
        // A mode alone names no window: refused as any empty scope is.
        assert!(
            RateLimitConfig::from_vars("RATE_LIMIT", [("RATE_LIMIT_MASTODON_MODE", "override")])
                .is_err()
        );
    }

    /// In JSON, `mode` is written only when it is `override`, and read either way.
    #[cfg(feature = "serde")]
    #[test]
    fn a_scopes_mode_in_json() {
        let over: ScopeLimits =
            serde_json::from_str(r#"{"minute": 300, "mode": "override"}"#).unwrap();
        assert_eq!(over.mode, ScopeMode::Override);
        assert_eq!(
            serde_json::to_string(&over).unwrap(),
            r#"{"minute":300,"mode":"override"}"#
        );
        let all: ScopeLimits = serde_json::from_str(r#"{"minute": 30, "mode": "all"}"#).unwrap();
        assert_eq!(serde_json::to_string(&all).unwrap(), r#"{"minute":30}"#);
        assert!(
            serde_json::from_str::<ScopeLimits>(r#"{"minute": 30, "mode": "replace"}"#).is_err()
        );
    }

    #[test]
    fn defaults_are_the_reference_apis() {
        let c = RateLimitConfig::default();
        assert_eq!(
            (
                c.requests_per_minute,
                c.requests_per_hour,
                c.requests_per_day,
                c.max_burst
            ),
            (60, 1000, 10000, 10)
        );
        assert!(c.validate().is_ok());
    }

    #[test]
    fn validate_lists_every_bad_field_with_its_pointer() {
        let mut c = RateLimitConfig {
            requests_per_minute: 0,
            max_burst: 0,
            ..RateLimitConfig::default()
        };
        c.endpoint_limits.insert(
            "media".into(),
            ScopeLimits {
                minute: Some(0),
                ..Default::default()
            },
        );
        c.platform_limits
            .insert("a/b".into(), ScopeLimits::default());
        let Err(Error::InvalidConfig(errors)) = c.validate() else {
            panic!("expected errors")
        };
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            vec![
                "/requests_per_minute",
                "/max_burst",
                "/endpoint_limits/media/minute",
                "/platform_limits/a~1b"
            ]
        );
    }

    #[test]
    fn from_vars_reads_every_pattern_in_order() {
        let c = RateLimitConfig::from_vars(
            "RATE_LIMIT",
            [
                ("RATE_LIMIT_REQUESTS_PER_MINUTE", "30"),
                ("RATE_LIMIT_REQUESTS_PER_HOUR", "500"),
                ("RATE_LIMIT_REQUESTS_PER_DAY", "9000"),
                ("RATE_LIMIT_MAX_BURST", "4"),
                ("RATE_LIMIT_ENDPOINT_MEDIA_MINUTE", "10"),
                ("RATE_LIMIT_ENDPOINT_MEDIA_BURST", "3"),
                ("RATE_LIMIT_ENDPOINT_VERIFY_CREDENTIALS_HOUR", "7"),
                ("RATE_LIMIT_PIXELFED_ENDPOINT_MEDIA_MINUTE", "5"),
                ("RATE_LIMIT_MASTODON_MINUTE", "300"),
                ("RATE_LIMIT_MY_INSTANCE_DAY", "50"),
                ("OTHER_THING", "x"),
            ],
        )
        .unwrap();
        assert_eq!(
            (
                c.requests_per_minute,
                c.requests_per_hour,
                c.requests_per_day,
                c.max_burst
            ),
            (30, 500, 9000, 4)
        );
        assert_eq!(
            c.endpoint_limits["media"],
            ScopeLimits {
                minute: Some(10),
                burst: Some(3),
                ..Default::default()
            }
        );
        assert_eq!(c.endpoint_limits["verify_credentials"].hour, Some(7));
        assert_eq!(
            c.platform_endpoint_limits["pixelfed"]["media"].minute,
            Some(5)
        );
        assert_eq!(c.platform_limits["mastodon"].minute, Some(300));
        assert_eq!(c.platform_limits["my_instance"].day, Some(50));
    }

    #[test]
    fn from_vars_names_the_variable_with_a_malformed_value() {
        for bad in ["abc", "0", "-5", "1.5", ""] {
            let err =
                RateLimitConfig::from_vars("RATE_LIMIT", [("RATE_LIMIT_MASTODON_MINUTE", bad)])
                    .unwrap_err();
            assert!(
                matches!(&err, Error::Env { variable, .. } if variable == "RATE_LIMIT_MASTODON_MINUTE"),
                "{bad:?} gave {err}"
            );
        }
    }

    #[test]
    fn from_vars_reports_a_misspelt_name() {
        let err =
            RateLimitConfig::from_vars("RATE_LIMIT", [("RATE_LIMIT_REQUESTS_PER_MINUT", "5")])
                .unwrap_err();
        assert!(
            matches!(&err, Error::Env { variable, .. } if variable == "RATE_LIMIT_REQUESTS_PER_MINUT")
        );
        assert!(RateLimitConfig::from_vars("RATE_LIMIT", [("RATE_LIMIT__MINUTE", "5")]).is_err());
    }

    #[test]
    fn burst_alone_is_reported_as_a_scope_without_windows() {
        let err = RateLimitConfig::from_vars("P", [("P_ENDPOINT_MEDIA_BURST", "2")]).unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig(ref e) if e[0].pointer == "/endpoint_limits/media")
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn from_env_with_no_variables_is_the_default() {
        // Setting variables needs `unsafe` in edition 2024, which the crate forbids; the
        // server's end-to-end tests start a real process with RATE_LIMIT_* set instead.
        let c = RateLimitConfig::from_env("FLOWGATE_CORE_TEST_UNSET_PREFIX").unwrap();
        assert_eq!(c, RateLimitConfig::default());
    }
}
