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

impl Rfc3339 {
    /// Reads an RFC 3339 time back: `2026-12-04T07:42:45.123456Z`, a fraction of up to nine
    /// digits or none, `Z` or an offset (`+01:00`); a leap second (`:60`) reads as `:59`.
    /// `None` for anything else, and for a time before the Unix epoch.
    ///
    /// ```
    /// use core::time::Duration;
    /// use flowgate_core::Rfc3339;
    ///
    /// let t = Rfc3339::parse("2023-11-14T23:13:20.5+01:00").unwrap();
    /// assert_eq!(t.0, Duration::new(1_700_000_000, 500_000_000));
    /// ```
    #[must_use]
    pub fn parse(text: &str) -> Option<Rfc3339> {
        let b = text.as_bytes();
        let number = |from: usize, to: usize| -> Option<u64> {
            let digits = b.get(from..to)?;
            digits
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
        };
        let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
        if separators.iter().any(|&(i, c)| b.get(i) != Some(&c))
            || !matches!(b.get(10), Some(b'T' | b't'))
        {
            return None;
        }
        let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
        let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
        if !(1..=12).contains(&month) || day == 0 || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut at = 19;
        let mut nanos = 0;
        if b.get(at) == Some(&b'.') {
            let digits = b[at + 1..]
                .iter()
                .take_while(|d| d.is_ascii_digit())
                .count();
            if !(1..=9).contains(&digits) {
                return None;
            }
            let fraction = number(at + 1, at + 1 + digits)?;
            nanos = fraction * 10u64.pow(9 - digits as u32);
            at += 1 + digits;
        }
        let offset = match &b[at..] {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (h, m) = (number(at + 1, at + 3)?, number(at + 4, at + 6)?);
                if h > 23 || m > 59 {
                    return None;
                }
                let secs = i64::try_from(h * 3_600 + m * 60).ok()?;
                if *sign == b'+' { secs } else { -secs }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day)?;
        let local = days * 86_400 + hour * 3_600 + minute * 60 + second.min(59);
        let utc = i64::try_from(local).ok()?.checked_sub(offset)?;
        Some(Rfc3339(Duration::new(
            u64::try_from(utc).ok()?,
            u32::try_from(nanos).ok()?,
        )))
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm),
/// for dates on or after the epoch; `None` for a day the month does not have. `month` is 1 to
/// 12 and `day` 1 or more (the callers check).
pub(crate) fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > month_days[(month - 1) as usize] {
        return None;
    }
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
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
    fn rfc3339_reads_back_what_it_writes_and_refuses_the_rest() {
        for (secs, nanos) in [(0, 0), (951_782_400, 1_000), (1_700_000_000, 123_456_000)] {
            let t = Rfc3339(Duration::new(secs, nanos));
            assert_eq!(Rfc3339::parse(&t.to_string()), Some(t));
        }
        let read = |s: &str| Rfc3339::parse(s).map(|t| t.0);
        assert_eq!(read("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(
            read("1970-01-01t01:00:00.1+01:00"),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            read("1970-01-01T00:00:00.123456789-00:30"),
            Some(Duration::new(1_800, 123_456_789))
        );
        assert_eq!(read("2016-12-31T23:59:60Z"), read("2016-12-31T23:59:59Z"));
        for bad in [
            "",
            "1970-01-01",
            "1970-01-01T00:00:00",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+01:00",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "2026-01-01T00:00:00+1:00",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00Zx",
            "+026-01-01T00:00:00Z",
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
    }

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
