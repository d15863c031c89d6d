//! Time: the injected [`Clock`] every time check reads, and duration parsing ("15m", "30s", "7d",
//! with a unit always).
//!
//! Nothing else in tollgate reads the system clock, so a fixed clock (the CLI's `--now`) controls
//! every `iat`, `nbf`, `exp`, revocation time and store TTL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Where "now" comes from.
///
/// # Examples
///
/// ```
/// use tollgate::Clock;
/// let clock = Clock::fixed(1_800_000_000);
/// assert_eq!(clock.now(), 1_800_000_000);
/// assert!(Clock::system().now() > 1_700_000_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system's real-time clock.
    #[default]
    System,
    /// A fixed instant in Unix seconds, for tests and for `--now`.
    Fixed(i64),
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock::System
    }

    /// A clock that always reads `unix_seconds`.
    pub fn fixed(unix_seconds: i64) -> Self {
        Clock::Fixed(unix_seconds)
    }

    /// The current time in Unix seconds.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            Clock::Fixed(t) => *t,
        }
    }

    /// The current time in Unix milliseconds (the fixed clock reads its second times 1000).
    pub fn now_millis(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Clock::Fixed(t) => t.saturating_mul(1000),
        }
    }
}

/// What every duration message suggests.
const EXAMPLES: &str = "30s, 15m, 12h, 7d or 1h30m";

/// Parses a duration of whole seconds written with units: `30s`, `15m`, `12h`, `7d`, `2w`,
/// `1h30m`, `1h 30m`, `90min`, `2days`.
///
/// The text is read by [`humantime`]; tollgate adds rules that keep a value meaning what its
/// reader thinks:
/// - a unit is required: a bare number other than `0` is refused (is `900` seconds or
///   minutes?);
/// - months and years are refused (their length varies, and `M` reads like `m`): write days or
///   weeks;
/// - whole numbers only (`1h30m`, not `1.5h`), summing to whole seconds (`1500ms` is refused).
///
/// Units: `s` (`sec`, `seconds`), `m` (`min`, `minutes`), `h` (`hr`, `hours`), `d` (`day`,
/// `days`), `w` (`week`, `weeks`). Every output of [`format_duration`] parses back.
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) naming the value and saying how to write it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tollgate::parse_duration;
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_duration("2days").unwrap(), Duration::from_secs(2 * 86_400));
/// assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
/// assert!(parse_duration("900").is_err()); // seconds or minutes?
/// assert!(parse_duration("6M").is_err()); // months, or a typo for minutes?
/// ```
pub fn parse_duration(text: &str) -> Result<Duration> {
    let duration = parse_with_units(text)?;
    if duration.subsec_nanos() != 0 {
        return Err(Error::usage(format!(
            "duration {} is not a whole number of seconds; tollgate counts seconds, \
             such as {EXAMPLES}",
            crate::error::quoted(text)
        )));
    }
    Ok(duration)
}

/// Like [`parse_duration`], and sub-second values such as `500ms` are fine: for I/O timeouts
/// (a store URL's `?timeout=`).
pub(crate) fn parse_timeout(text: &str) -> Result<Duration> {
    parse_with_units(text)
}

/// The rules of [`parse_duration`], sub-second values included.
fn parse_with_units(text: &str) -> Result<Duration> {
    let quoted = crate::error::quoted(text);
    let refuse = |why: &str| Error::usage(format!("invalid duration {quoted}: {why}"));
    let text = text.trim();
    if text.is_empty() {
        return Err(refuse(&format!(
            "empty; write a number with a unit, such as {EXAMPLES}"
        )));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        if text.bytes().all(|b| b == b'0') {
            return Ok(Duration::ZERO);
        }
        return Err(Error::usage(format!(
            "duration {quoted} has no unit; write {text}s for seconds or {text}m for minutes \
             (for example {EXAMPLES})"
        )));
    }
    for unit in text.split(|c: char| !c.is_alphabetic()) {
        match unit {
            "M" => {
                return Err(refuse(
                    "`M` means months, which have no fixed length, and reads like `m` (minutes); \
                     write minutes as 15m, or days and weeks such as 30d or 4w",
                ));
            }
            "month" | "months" | "y" | "yr" | "yrs" | "year" | "years" => {
                return Err(refuse(
                    "months and years have no fixed length; write days or weeks, such as 30d \
                     or 52w",
                ));
            }
            _ => {}
        }
    }
    if text.contains(['.', ',']) {
        return Err(refuse(&format!(
            "use whole numbers, such as 1h30m rather than 1.5h (for example {EXAMPLES})"
        )));
    }
    // humantime reads `1 5m` as 15m; a space belongs between parts (`1h 30m`), never in a number.
    let digits_apart = text
        .split_whitespace()
        .zip(text.split_whitespace().skip(1))
        .any(|(a, b)| {
            a.ends_with(|c: char| c.is_ascii_digit()) && b.starts_with(|c: char| c.is_ascii_digit())
        });
    if digits_apart {
        return Err(refuse(&format!(
            "a number without its unit; write it as {EXAMPLES}"
        )));
    }
    humantime::parse_duration(text).map_err(|e| match e {
        humantime::DurationError::UnknownUnit { unit, value, .. } if unit.is_empty() => refuse(
            &format!("{value} has no unit; write it as {value}s, {value}m, …, such as {EXAMPLES}"),
        ),
        humantime::DurationError::UnknownUnit { unit, .. } => refuse(&format!(
            "unknown unit {}; use s, m (min), h, d or w, such as {EXAMPLES}",
            crate::error::quoted(&unit)
        )),
        humantime::DurationError::NumberOverflow => refuse("too large"),
        _ => refuse(&format!("write a number with a unit, such as {EXAMPLES}")),
    })
}

/// Formats a duration compactly: `1h30m`, `45s`, `7d`, `0s`.
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp (`2026-09-01T10:00:00Z`).
pub fn format_time(unix_seconds: i64) -> String {
    chrono::DateTime::from_timestamp(unix_seconds, 0).map_or_else(
        || format!("@{unix_seconds}"),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(text: &str) -> u64 {
        parse_duration(text)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
            .as_secs()
    }

    fn refused(text: &str) -> String {
        let err = parse_duration(text).expect_err(text);
        assert_eq!(err.kind(), crate::ErrorKind::Usage, "{text:?}");
        err.to_string()
    }

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(secs("30s"), 30);
        assert_eq!(secs("15m"), 900);
        assert_eq!(secs("12h"), 43_200);
        assert_eq!(secs("7d"), 604_800);
        assert_eq!(secs("2w"), 1_209_600);
        assert_eq!(secs("1h30m"), 5400);
    }

    #[test]
    fn issue_16_accepts_spaces_and_spelled_out_units() {
        assert_eq!(secs("1h 30m"), 5400);
        assert_eq!(secs(" 1h 30m "), 5400);
        assert_eq!(secs("90min"), 5400);
        assert_eq!(secs("90 min"), 5400);
        assert_eq!(secs("2days"), 172_800);
        assert_eq!(secs("2 days"), 172_800);
        assert_eq!(secs("1day"), 86_400);
        assert_eq!(secs("45sec"), 45);
        assert_eq!(secs("10 seconds"), 10);
        assert_eq!(secs("3hours"), 10_800);
        assert_eq!(secs("1hr"), 3600);
        assert_eq!(secs("1week"), 604_800);
        assert_eq!(secs("1d2h3m4s"), 93_784);
        assert_eq!(secs("2000ms"), 2);
    }

    #[test]
    fn issue_16_zero_alone_needs_no_unit() {
        assert_eq!(secs("0"), 0);
        assert_eq!(secs("00"), 0);
        assert_eq!(secs("0s"), 0);
    }

    #[test]
    fn issue_16_a_bare_number_is_refused_with_examples() {
        for bare in ["90", "900", "1", " 30 "] {
            let message = refused(bare);
            assert!(
                message.contains(&format!("{bare:?}")),
                "names the value: {message}"
            );
            assert!(message.contains("no unit"), "{message}");
            assert!(message.contains("30s, 15m, 12h, 7d or 1h30m"), "{message}");
        }
        assert_eq!(
            refused("900"),
            "duration \"900\" has no unit; write 900s for seconds or 900m for minutes \
             (for example 30s, 15m, 12h, 7d or 1h30m)"
        );
    }

    #[test]
    fn issue_16_months_years_and_capital_m_are_refused() {
        for text in [
            "6M", "1M", "1month", "2 months", "1y", "1yr", "2yrs", "1year", "2 years",
        ] {
            let message = refused(text);
            assert!(message.contains("no fixed length"), "{text}: {message}");
        }
        assert!(refused("15M").contains("reads like `m`"));
        assert!(refused("1h15M").contains("reads like `m`"));
    }

    #[test]
    fn refuses_garbage_with_usage_kind() {
        for bad in [
            "",
            "   ",
            "m",
            "15x",
            "1.5h",
            "1,5h",
            "-3s",
            "+3s",
            "15m3",
            "1 5m",
            "15 m 3",
            "99999999999999999999w",
            "1H",
            "soon",
            "1h-30m",
        ] {
            refused(bad);
        }
        assert!(refused("15x").contains("unknown unit \"x\""));
        assert!(refused("15m3").contains("3 has no unit"));
    }

    #[test]
    fn sub_second_values_are_refused_but_fine_for_timeouts() {
        assert!(refused("1500ms").contains("whole number of seconds"));
        assert!(refused("1s500ms").contains("whole number of seconds"));
        assert_eq!(parse_timeout("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_timeout("2s").unwrap(), Duration::from_secs(2));
        assert!(parse_timeout("2").is_err());
        assert!(parse_timeout("1M").is_err());
    }

    #[test]
    fn formats_time_as_rfc3339() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
    }

    proptest! {
        #[test]
        fn duration_round_trips(secs in 0u64..10_000_000_000) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
