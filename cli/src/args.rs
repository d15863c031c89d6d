//! Global options, accepted before or after the command.

use std::path::PathBuf;

use clap::Args;

/// The store when `--store` and `TOLLGATE_STORE` are both absent: the embedded SQLite file.
pub(crate) const DEFAULT_STORE: &str = "sqlite:./tollgate.db";

/// Options every command takes.
#[derive(Debug, Clone, Args)]
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

    /// Clock override in Unix seconds for every time check and every time written.
    #[arg(
        long,
        global = true,
        value_name = "UNIX_SECONDS",
        allow_negative_numbers = true
    )]
    pub(crate) now: Option<i64>,

    /// Default issuer for mint and verify.
    #[arg(long, global = true, value_name = "I", env = "TOLLGATE_ISSUER")]
    pub(crate) issuer: Option<String>,

    /// Default audience for mint and verify.
    #[arg(long, global = true, value_name = "A", env = "TOLLGATE_AUDIENCE")]
    pub(crate) audience: Option<String>,
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
