//! Conversions between [`Duration`] and the integer nanoseconds and float seconds the
//! algorithms use. None of them panics: out-of-range values saturate or are reported.

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

#[cfg(test)]
mod tests {
    use super::*;

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
