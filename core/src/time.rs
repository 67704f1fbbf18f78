//! Conversions between [`Duration`] and the integer nanoseconds and float seconds the
//! algorithms use. None of them panics: out-of-range values saturate or are reported.

use core::fmt;
use core::time::Duration;

/// `d` in whole nanoseconds, saturating at `u64::MAX` (about 584 years).
#[must_use]
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Seconds as a [`Duration`]: `None` for NaN, negative or infinite values, or values too large
/// for a `Duration`.
#[must_use]
pub fn duration_from_secs_f64(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok()
}

/// `d` in seconds as `f64`, without going through floating-point division on targets that
/// lack it in hardware in an inexact way: whole seconds plus nanoseconds.
pub(crate) fn secs_f64(d: Duration) -> f64 {
    d.as_secs() as f64 + f64::from(d.subsec_nanos()) / 1e9
}

/// A time since the Unix epoch shown as RFC 3339 in UTC with microseconds
/// (`2026-12-04T07:42:45.123456Z`): how the server stores and shows times, and how the
/// WebAssembly component's progress snapshots carry them. Nanoseconds are truncated.
///
/// ```
/// use core::time::Duration;
/// use flowgate_core::Rfc3339;
///
/// let t = Duration::new(1_700_000_000, 123_456_789);
/// assert_eq!(Rfc3339(t).to_string(), "2023-11-14T22:13:20.123456Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub Duration);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let (days, of_day) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
            of_day / 3_600,
            of_day / 60 % 60,
            of_day % 60,
            self.0.subsec_micros()
        )
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// the inverse of the `days_from_civil` that reads HTTP-dates).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn rfc3339_reads_as_the_calendar_does() {
        let at = |s: u64, ns: u32| Rfc3339(Duration::new(s, ns)).to_string();
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        // A leap day, and the last microsecond of a year.
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00.000000Z");
        assert_eq!(
            at(1_798_761_599, 999_999_999),
            "2026-12-31T23:59:59.999999Z"
        );
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000000Z");
    }

    #[test]
    fn nanos_saturates_instead_of_overflowing() {
        assert_eq!(nanos(Duration::MAX), u64::MAX);
        assert_eq!(nanos(Duration::from_millis(1500)), 1_500_000_000);
    }

    #[test]
    fn bad_float_seconds_are_none() {
        assert_eq!(duration_from_secs_f64(f64::NAN), None);
        assert_eq!(duration_from_secs_f64(-1.0), None);
        assert_eq!(duration_from_secs_f64(f64::INFINITY), None);
        assert_eq!(
            duration_from_secs_f64(1.5),
            Some(Duration::from_millis(1500))
        );
    }
}
