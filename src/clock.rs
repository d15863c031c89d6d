//! Time: the injected [`Clock`] every time check reads, and duration parsing ("15m", "30s", "7d").
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

/// Parses a duration such as `90`, `30s`, `15m`, `12h`, `7d`, `2w` or `1h30m`.
///
/// A bare number is seconds. Units: `s`, `m`, `h`, `d`, `w`.
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) naming the value when it cannot be read.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tollgate::parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert!(tollgate::parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::usage(format!(
            "invalid duration {}: use a number with a unit, such as 30s, 15m, 12h, 7d or 1h30m",
            crate::error::quoted(text)
        ))
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(bad());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map(Duration::from_secs).map_err(|_| bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
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

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("15m").unwrap().as_secs(), 900);
        assert_eq!(parse_duration("12h").unwrap().as_secs(), 43_200);
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 604_800);
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
    }

    #[test]
    fn rejects_garbage_with_usage_kind() {
        for bad in [
            "",
            "m",
            "15x",
            "1.5h",
            "-3s",
            "15m3",
            "99999999999999999999w",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Usage, "{bad}");
        }
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
