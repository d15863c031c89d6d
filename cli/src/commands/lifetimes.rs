//! Session lifetime flags. Each command takes only those it uses: `session login` the
//! access-token lifetime and the refresh windows it sets, `session refresh` the access-token
//! lifetime and the grace window, `serve` all of them.

use std::time::Duration;

use clap::Args;
use tollgate::parse_duration;
use tollgate::session::SessionConfig;

use crate::args::duration_help;

/// `--access-ttl`: the lifetime of the access tokens a login or a refresh mints.
#[derive(Debug, Args)]
#[command(next_help_heading = "Session lifetimes")]
pub(crate) struct AccessTtl {
    #[arg(
        long,
        value_name = "DURATION",
        env = "TOLLGATE_ACCESS_TTL",
        value_parser = parse_duration,
        help = duration_help!("Lifetime of the access tokens sessions mint, at most the keyring's \
            max_ttl [default: 15m; 30s for `serve --demo`].")
    )]
    access_ttl: Option<Duration>,
}

impl AccessTtl {
    /// The library's session defaults with this access-token lifetime, or `default` when the
    /// flag is absent.
    pub(crate) fn config(&self, default: Duration) -> SessionConfig {
        SessionConfig::new().with_access_ttl(self.access_ttl.unwrap_or(default))
    }
}

/// The refresh windows a login sets for its session.
#[derive(Debug, Args)]
#[command(next_help_heading = "Session lifetimes")]
pub(crate) struct Windows {
    #[arg(
        long,
        value_name = "DURATION",
        env = "TOLLGATE_REFRESH_WINDOW",
        default_value = "12h",
        value_parser = parse_duration,
        help = duration_help!("Refresh lifetime without --remember-me, counted from login and not \
            extended by refreshing.")
    )]
    refresh_window: Duration,
    #[arg(
        long,
        value_name = "DURATION",
        env = "TOLLGATE_REMEMBER_WINDOW",
        default_value = "30d",
        value_parser = parse_duration,
        help = duration_help!("Sliding refresh window with --remember-me: each refresh extends it \
            to this from now.")
    )]
    remember_window: Duration,
    #[arg(
        long,
        value_name = "DURATION",
        env = "TOLLGATE_ABSOLUTE_MAX",
        default_value = "90d",
        value_parser = parse_duration,
        help = duration_help!("Absolute cap of a remembered session, counted from login.")
    )]
    absolute_max: Duration,
}

impl Windows {
    /// `config` with these windows.
    pub(crate) fn apply(&self, config: SessionConfig) -> SessionConfig {
        config
            .with_refresh_window(self.refresh_window)
            .with_remember_window(self.remember_window)
            .with_absolute_max(self.absolute_max)
    }
}

/// `--grace`: how long a rotated refresh token may be replayed.
#[derive(Debug, Args)]
#[command(next_help_heading = "Session lifetimes")]
pub(crate) struct Grace {
    #[arg(
        long,
        value_name = "DURATION",
        env = "TOLLGATE_GRACE",
        default_value = "10s",
        value_parser = parse_duration,
        help = duration_help!("How long after a rotation the previous refresh token still returns \
            the same pair; 0 disables it (any reuse revokes the session).")
    )]
    grace: Duration,
}

impl Grace {
    /// `config` with this grace window.
    pub(crate) fn apply(&self, config: SessionConfig) -> SessionConfig {
        config.with_grace(self.grace)
    }
}

/// Every session lifetime, for `serve`, whose endpoints log in and refresh.
#[derive(Debug, Args)]
pub(crate) struct Lifetimes {
    #[command(flatten)]
    access: AccessTtl,
    #[command(flatten)]
    windows: Windows,
    #[command(flatten)]
    grace: Grace,
}

impl Lifetimes {
    /// The session settings; `default_access_ttl` when `--access-ttl` was not given.
    pub(crate) fn config(&self, default_access_ttl: Duration) -> SessionConfig {
        self.grace
            .apply(self.windows.apply(self.access.config(default_access_ttl)))
    }
}
