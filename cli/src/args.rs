//! Global options, accepted before or after the command.

use std::path::PathBuf;

use clap::Args;

/// The store when `--store` and `TOLLGATE_STORE` are both absent: the embedded SQLite file.
pub(crate) const DEFAULT_STORE: &str = "sqlite:./tollgate.db";

/// Options every command takes, listed under their own heading after each command's own.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Keyring directory.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "TOLLGATE_KEYS",
        default_value = "./keys"
    )]
    pub(crate) keys: PathBuf,

    /// Revocation and session store: memory:, sqlite:PATH, redis://HOST:PORT/DB, rediss://…,
    /// redis+cluster://HOST:PORT[,HOST:PORT…] [default: sqlite:./tollgate.db]
    #[arg(long, global = true, value_name = "URL", env = "TOLLGATE_STORE")]
    pub(crate) store: Option<String>,

    /// Machine-readable JSON on stdout (errors too).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Clock override in Unix seconds for every time check and every time written, such as
    /// 1800000000 (for a date: `date -d 2027-01-15 +%s`).
    #[arg(
        long,
        global = true,
        value_name = "UNIX_SECONDS",
        allow_negative_numbers = true,
        value_parser = unix_seconds
    )]
    pub(crate) now: Option<i64>,

    /// Default issuer for mint and verify.
    #[arg(long, global = true, value_name = "I", env = "TOLLGATE_ISSUER")]
    pub(crate) issuer: Option<String>,

    /// Default audience for mint and verify.
    #[arg(long, global = true, value_name = "A", env = "TOLLGATE_AUDIENCE")]
    pub(crate) audience: Option<String>,

    /// Extra CA certificates (a PEM file), trusted besides the system's for TLS to JWKS URLs
    /// (verify --jwks, serve --trust-issuer).
    #[arg(long, global = true, value_name = "FILE", env = "TOLLGATE_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,
}

/// The help of a DURATION flag: its own text, then the forms every duration accepts (values go
/// through [`tollgate::parse_duration`], so a bare number other than 0 is a usage error).
macro_rules! duration_help {
    ($text:literal) => {
        concat!(
            $text,
            " DURATION takes a unit: 30s, 15m, 12h, 7d, 1h30m (also \"1h 30m\", 90min, 2days); \
             a bare number other than 0 is refused."
        )
    };
}
pub(crate) use duration_help;

/// Reads `--now`: Unix seconds. A date or a millisecond timestamp gets advice instead of
/// "invalid digit found in string".
fn unix_seconds(text: &str) -> Result<i64, String> {
    match text.trim().parse::<i64>() {
        // 10^11 seconds is the year 5138: such a value is a millisecond timestamp.
        Ok(n) if n.unsigned_abs() >= 100_000_000_000 => Err(format!(
            "{n} looks like milliseconds; --now takes Unix seconds, such as {}",
            n / 1000
        )),
        Ok(n) => Ok(n),
        Err(_) => {
            // Show the user's own date in the command when it is harmless to paste.
            let date = if !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-:+.T".contains(c))
            {
                text
            } else {
                "2027-01-15"
            };
            Err(format!(
                "--now takes Unix seconds, such as 1800000000 (2027-01-15T08:00:00Z); \
                 to get them for a date: date -d {date} +%s (GNU) or \
                 date -j -f %Y-%m-%d 2027-01-15 +%s (BSD, macOS)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unix_seconds;

    #[test]
    fn issue_17_now_takes_unix_seconds_and_explains_dates() {
        assert_eq!(unix_seconds("1800000000"), Ok(1_800_000_000));
        assert_eq!(unix_seconds("-5"), Ok(-5));
        let date = unix_seconds("2027-01-15").unwrap_err();
        assert!(date.contains("Unix seconds"), "{date}");
        assert!(date.contains("date -d 2027-01-15 +%s"), "{date}");
        let odd = unix_seconds("$(rm -rf ~)").unwrap_err();
        assert!(odd.contains("date -d 2027-01-15 +%s"), "{odd}");
        let millis = unix_seconds("1800000000000").unwrap_err();
        assert!(
            millis.contains("milliseconds") && millis.contains("1800000000"),
            "{millis}"
        );
    }
}
