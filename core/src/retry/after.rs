//! `Retry-After` (RFC 9110 §10.2.3): delta-seconds, or an HTTP-date in any of the three forms a
//! recipient must accept (§5.6.7).

use alloc::string::ToString;
use core::time::Duration;

use super::Error;

/// The wait a `Retry-After` header value asks for.
///
/// `now_unix` is the current wall-clock time as time since the Unix epoch; it is needed only
/// for the HTTP-date form (the core never reads a clock). A date in the past means no wait.
///
/// ```
/// use core::time::Duration;
/// use flowgate_core::retry::parse_retry_after;
///
/// assert_eq!(parse_retry_after("120", None)?, Duration::from_secs(120));
/// // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
/// let now = Duration::from_secs(784_111_777 - 30);
/// let wait = parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", Some(now))?;
/// assert_eq!(wait, Duration::from_secs(30));
/// # Ok::<(), flowgate_core::retry::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidRetryAfter`] when the value is neither form, or is a date and `now_unix`
/// is `None`.
pub fn parse_retry_after(value: &str, now_unix: Option<Duration>) -> Result<Duration, Error> {
    let value = value.trim();
    let invalid = |why: &str| Error::InvalidRetryAfter {
        value: value.to_string(),
        detail: why.to_string(),
    };
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long values are a wait longer than anyone will honour, not an error.
        return Ok(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at =
        parse_http_date(value).ok_or_else(|| invalid("neither delta-seconds nor an HTTP-date"))?;
    let now = now_unix.ok_or_else(|| invalid("an HTTP-date needs the current time"))?;
    Ok(Duration::from_secs(at.saturating_sub(now.as_secs())))
}

/// Seconds since the Unix epoch of an HTTP-date, or `None`.
fn parse_http_date(s: &str) -> Option<u64> {
    let (_weekday, rest) = s.split_once(' ')?;
    let (day, month, year, time) = if let Some(rest) = rest.strip_suffix(" GMT") {
        if s.as_bytes().get(3) == Some(&b',') {
            // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
            let mut parts = rest.split(' ');
            let (d, m, y, t) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || d.len() != 2 || y.len() != 4 {
                return None;
            }
            (d, m, y.parse::<u64>().ok()?, t)
        } else {
            // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
            let (date, t) = rest.split_once(' ')?;
            let mut parts = date.split('-');
            let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || d.len() != 2 || y.len() != 2 {
                return None;
            }
            let yy: u64 = y.parse().ok()?;
            // Two-digit years: RFC 9110 says to pick the most recent past century's; without
            // a clock, 70..99 are the 1900s and the rest the 2000s, as most parsers do.
            (d, m, if yy >= 70 { 1900 + yy } else { 2000 + yy }, t)
        }
    } else {
        // asctime: "Sun Nov  6 08:49:37 1994"
        let mut parts = rest.split(' ').filter(|p| !p.is_empty());
        let (m, d, t, y) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 {
            return None;
        }
        (d, m, y.parse::<u64>().ok()?, t)
    };
    let day: u64 = day.parse().ok()?;
    let month = MONTHS.iter().position(|&m| m == month)? as u64 + 1;
    let mut hms = time.split(':');
    let (h, mi, se) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() || h.len() != 2 || mi.len() != 2 || se.len() != 2 {
        return None;
    }
    let (h, mi, se): (u64, u64, u64) = (h.parse().ok()?, mi.parse().ok()?, se.parse().ok()?);
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || se > 60 || year < 1970 {
        return None;
    }
    let days = crate::time::days_from_civil(year, month, day)?;
    Some(days * 86_400 + h * 3_600 + mi * 60 + se)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_6_1994: u64 = 784_111_777;

    #[test]
    fn all_three_date_forms_give_the_same_instant() {
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(s), Some(NOV_6_1994), "{s}");
        }
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1_835_438_400)
        );
    }

    #[test]
    fn delta_seconds_and_past_dates() {
        assert_eq!(parse_retry_after(" 0 ", None), Ok(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", None),
            Ok(Duration::from_secs(u64::MAX))
        );
        let later = Some(Duration::from_secs(NOV_6_1994 + 100));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later),
            Ok(Duration::ZERO)
        );
    }

    #[test]
    fn malformed_values_are_errors_not_panics() {
        for s in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37",
            "ééé, 06 Nov 1994 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
        ] {
            assert!(
                matches!(
                    parse_retry_after(s, Some(Duration::ZERO)),
                    Err(Error::InvalidRetryAfter { .. })
                ),
                "{s:?}"
            );
        }
        assert!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", None).is_err());
    }
}
