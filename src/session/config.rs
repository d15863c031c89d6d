//! [`SessionConfig`]: session lifetimes and the grace window, with their defaults.

use std::time::Duration;

use crate::clock::format_duration;
use crate::error::{Error, Result};

/// The longest a session may live, whatever its configuration: 366 days. A global revocation
/// is kept at least that long, so that no session created before it refreshes again.
pub const MAX_SESSION_LIFETIME: i64 = 366 * 86_400;

/// Default access-token lifetime: 15 minutes.
pub const DEFAULT_ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// Default refresh window without remember-me: 12 hours from login, not sliding.
pub const DEFAULT_REFRESH_WINDOW: Duration = Duration::from_secs(12 * 3600);
/// Default sliding refresh window with remember-me: 30 days.
pub const DEFAULT_REMEMBER_WINDOW: Duration = Duration::from_secs(30 * 86_400);
/// Default absolute cap of a remembered session: 90 days after login.
pub const DEFAULT_ABSOLUTE_MAX: Duration = Duration::from_secs(90 * 86_400);
/// Default grace window for replaying the immediate parent refresh token: 10 seconds.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Session lifetimes and the grace window.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tollgate::session::SessionConfig;
/// let config = SessionConfig::new()
///     .with_access_ttl(Duration::from_secs(300))
///     .with_grace(Duration::ZERO);
/// assert_eq!(config.access_ttl(), Duration::from_secs(300));
/// assert_eq!(config.remember_window(), Duration::from_secs(30 * 86_400));
/// assert!(!config.has_grace());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    access_ttl: Duration,
    refresh_window: Duration,
    remember_window: Duration,
    absolute_max: Duration,
    grace: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig::new()
    }
}

impl SessionConfig {
    /// The defaults: access tokens 15 minutes; refresh 12 hours without remember-me; 30 days
    /// sliding, capped at 90 days, with it; grace 10 seconds.
    pub fn new() -> Self {
        SessionConfig {
            access_ttl: DEFAULT_ACCESS_TTL,
            refresh_window: DEFAULT_REFRESH_WINDOW,
            remember_window: DEFAULT_REMEMBER_WINDOW,
            absolute_max: DEFAULT_ABSOLUTE_MAX,
            grace: DEFAULT_GRACE,
        }
    }

    /// Lifetime of the access tokens a session mints. Defaults to 15 minutes; must be at most
    /// the keyring's `max_ttl`.
    pub fn with_access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Refresh lifetime of a session without remember-me, counted from login and not extended
    /// by refreshing. Defaults to 12 hours.
    pub fn with_refresh_window(mut self, window: Duration) -> Self {
        self.refresh_window = window;
        self
    }

    /// Sliding refresh window of a remembered session: each refresh extends it to this much
    /// from now. Defaults to 30 days.
    pub fn with_remember_window(mut self, window: Duration) -> Self {
        self.remember_window = window;
        self
    }

    /// Absolute cap of a remembered session, counted from login. Defaults to 90 days.
    pub fn with_absolute_max(mut self, max: Duration) -> Self {
        self.absolute_max = max;
        self
    }

    /// How long after a rotation the spent parent token still returns the same successor.
    /// Defaults to 10 seconds; zero disables it (every reuse is theft).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// The refresh window without remember-me.
    pub fn refresh_window(&self) -> Duration {
        self.refresh_window
    }

    /// The sliding refresh window with remember-me.
    pub fn remember_window(&self) -> Duration {
        self.remember_window
    }

    /// The absolute cap with remember-me.
    pub fn absolute_max(&self) -> Duration {
        self.absolute_max
    }

    /// The grace window.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Whether the grace window is on.
    pub fn has_grace(&self) -> bool {
        !self.grace.is_zero()
    }

    /// Checks the lifetimes against the keyring's `max_ttl` (in seconds).
    pub(crate) fn validate(&self, max_ttl: i64) -> Result<()> {
        let access = secs(self.access_ttl);
        if access < 1 {
            return Err(Error::usage(
                "the access-token lifetime must be at least 1s",
            ));
        }
        if access > max_ttl {
            return Err(Error::usage(format!(
                "the access-token lifetime {} exceeds the keyring's max_ttl of {}; shorten it",
                format_duration(self.access_ttl),
                format_duration(Duration::from_secs(max_ttl.unsigned_abs()))
            )));
        }
        for (name, window) in [
            ("refresh window", self.refresh_window),
            ("remember-me window", self.remember_window),
            ("absolute maximum", self.absolute_max),
        ] {
            if secs(window) < 1 {
                return Err(Error::usage(format!(
                    "the session {name} must be at least 1s"
                )));
            }
            if secs(window) > MAX_SESSION_LIFETIME {
                return Err(Error::usage(format!(
                    "the session {name} {} is longer than a session may live ({}): a global \
                     revocation is kept that long, so that no session created before it \
                     refreshes again; shorten it",
                    format_duration(window),
                    format_duration(Duration::from_secs(MAX_SESSION_LIFETIME.unsigned_abs()))
                )));
            }
        }
        Ok(())
    }
}

/// Whole seconds, saturating.
pub(crate) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
