//! Sessions: login with per-login remember-me, refresh-token rotation with reuse detection and a
//! grace window, logout, logout everywhere, and a user's session list.
//!
//! A login yields a [`TokenPair`]: a short-lived signed access JWT (verified locally by any
//! server, revocable through the store) and an opaque, rotating refresh token (only ever checked
//! by the store). The session itself lives in the store, as one record per session, and every
//! [`SessionStore`] keeps it next to its revocation denylist.
//!
//! # The refresh token
//!
//! `tgr1.<sid>.<generation>.<secret>`, for example
//! `tgr1.3f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b.2.q7Yc…` (about 90 characters):
//!
//! - `tgr1.`: the type and format version. An access token is a compact JWS (three base64url
//!   segments, no such prefix), so neither can pass as the other: the verification pipeline
//!   refuses the prefix with `wrong_token_type` before any decoding, and [`Gate::refresh`]
//!   refuses a JWS with `wrong_token_type` too.
//! - `<sid>`: the session id, a lower-case UUID, also the `sid` claim of the session's access
//!   tokens.
//! - `<generation>`: 1 at login, one more at each rotation.
//! - `<secret>`: 32 random bytes from aws-lc-rs, base64url without padding.
//!
//! It is opaque on purpose: nothing about it needs verifying without the store, so it carries no
//! signature, no claims and no expiry to trust.
//!
//! # What the store holds (threat model)
//!
//! One [`SessionRecord`] per session: subject, current generation, created, last used, last
//! rotation, remember-me flag and window, sliding and absolute expiry, the application claims
//! its access tokens carry, device metadata (user agent and IP, as given; truncated to 256 and
//! 64 characters), SHA-256 of the current secret, SHA-256 of its parent, and the current secret
//! *sealed*: AES-256-GCM under a key derived with HKDF-SHA256 from the parent's secret (salt:
//! the sid; info: the generation). No secret and no token is stored in clear, and no access
//! token is stored at all.
//!
//! Someone who reads the whole store (a backup, a Redis replica, a SQLite file) cannot refresh a
//! session (the digests are preimage-resistant; opening the sealed successor needs the parent
//! secret, which the store never saw) and cannot mint an access token (that needs the keyring).
//! Someone who can *write* the store can end sessions and lift revocations, as with any
//! server-side session store. Digests are compared in constant time (aws-lc-rs in memory and
//! SQLite; an XOR-accumulate loop in the Redis script).
//!
//! # Rotation, the grace window, and theft
//!
//! [`Gate::refresh`] draws the successor secret, seals it under the presented secret, and asks
//! the store to rotate in ONE atomic step (a mutex for memory, `BEGIN IMMEDIATE` for SQLite, one
//! Lua script for Redis, which is one round trip). [`Rotation::apply`] is the rule:
//!
//! - presented generation is current and its digest matches: generation + 1; the refresh
//!   window slides to `min(now + window, absolute expiry)`; a new access token is minted;
//! - presented generation is the immediate parent, its digest matches the parent digest, and
//!   the rotation happened at most `grace` seconds ago (10 s by default; 0 disables it): the
//!   *same* successor pair is returned again. The caller opens the sealed successor secret with
//!   a key derived from the secret it presented; the access token is re-derived from it
//!   deterministically (same `jti`, `iat` = the rotation time, same claims and `exp`; with
//!   deterministic signatures, EdDSA, HS* and RS*, the very same bytes). This absorbs a
//!   client that sends its refresh twice (two tabs, a retry after a lost response);
//! - anything else (an older generation, a wrong secret for a known session, the parent after
//!   the grace window) is theft: somebody holds a spent token. The store ends the session and
//!   writes a session-scope revocation in the same atomic step, so every live access token of
//!   the session stops verifying at once and every refresh token of it is dead. The caller gets
//!   `reused_refresh_token`; the event is logged (sid prefix and generation, never a token) and
//!   counted ([`Gate::reuse_detections`]).
//!
//! A session that ended, expired, or whose session scope was revoked answers `unknown_session`.
//!
//! # Lifetimes
//!
//! Chosen per login with [`LoginRequest::with_remember_me`]: without it the refresh token lives
//! 12 hours from login, not extended by use; with it 30 days, sliding on each refresh, capped 90
//! days after login. Access tokens live 15 minutes (at most the keyring's `max_ttl`). All four,
//! and the grace window, are set with [`SessionConfig`]. Records expire by themselves: a Redis
//! TTL equal to the time left before the sliding expiry (renewed on each rotation), and
//! purging in SQLite and memory ([`SessionStore::purge_sessions`], also done opportunistically
//! at login).
//!
//! # Examples
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use tollgate::session::LoginRequest;
//! use tollgate::{Algorithm, Clock, ErrorKind, Gate, Keyring, Store};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let clock = Clock::fixed(1_800_000_000);
//! let mut keyring = Keyring::init(dir.path().join("keys"))?;
//! keyring.generate(Algorithm::EdDSA, None, &clock)?;
//! let gate = Gate::new(Store::open("memory:").await?).with_keyring(keyring).with_clock(clock);
//!
//! // Log in, remembered: the access token verifies like any JWT and names its session.
//! let login = gate
//!     .login(&LoginRequest::new("alice").with_remember_me(true).with_claim("role", "admin")?)
//!     .await?;
//! let verified = gate.verify::<serde_json::Value>(&login.access_token).await?;
//! assert_eq!(verified.claims.sid.as_deref(), Some(login.session_id.as_str()));
//! assert_eq!(login.refresh_expires_in, 30 * 86_400);
//!
//! // A refresh token is not an access token, and the other way round.
//! let err = gate.verify::<serde_json::Value>(&login.refresh_token).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::WrongTokenType);
//! assert_eq!(gate.refresh(&login.access_token).await.unwrap_err().kind(), ErrorKind::WrongTokenType);
//!
//! // Rotate. Replaying the spent token within the grace window returns the same pair...
//! let second = gate.refresh(&login.refresh_token).await?;
//! assert_eq!(gate.refresh(&login.refresh_token).await?.refresh_token, second.refresh_token);
//!
//! // ...but once the session has moved on, a replay is theft: the whole session is revoked.
//! let third = gate.refresh(&second.refresh_token).await?;
//! let err = gate.refresh(&login.refresh_token).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::ReusedRefreshToken);
//! assert_eq!(gate.verify::<serde_json::Value>(&third.access_token).await.unwrap_err().kind(), ErrorKind::Revoked);
//! assert_eq!(gate.refresh(&third.refresh_token).await.unwrap_err().kind(), ErrorKind::UnknownSession);
//! assert_eq!(gate.reuse_detections(), 1);
//! # Ok::<(), tollgate::Error>(())
//! # }).unwrap();
//! ```

mod inspect;
mod refresh;
mod store;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use inspect::RefreshTokenInfo;
pub use refresh::{REFRESH_TOKEN_PREFIX, SecretHash};
pub use store::{RotateOutcome, Rotation, SessionRecord, SessionStore};

use crate::claims::{MintOptions, check_name};
use crate::clock::{Clock, format_duration};
use crate::error::{Error, ErrorKind, Result, quoted};
use crate::gate::Gate;
use crate::keys::Keyring;
use crate::store::{MAX_ID_LEN, Revocation, Scope};
use crate::token::{self, Checks, Minted};
use refresh::{RefreshToken, Secret, is_session_id, sid_prefix};

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

/// The `token_type` of every [`TokenPair`] (RFC 6750).
pub const TOKEN_TYPE: &str = "Bearer";

const MAX_USER_AGENT: usize = 256;
const MAX_IP: usize = 64;

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
    fn validate(&self, max_ttl: i64) -> Result<()> {
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
        }
        Ok(())
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Where a login came from: shown in the session list, never used for a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The client's user agent (at most 256 characters are kept).
    pub user_agent: Option<String>,
    /// The client's IP address, as the application saw it (at most 64 characters are kept).
    pub ip: Option<String>,
}

impl Device {
    /// A device with a user agent and an IP, either optional.
    pub fn new(user_agent: Option<String>, ip: Option<String>) -> Self {
        Device { user_agent, ip }
    }

    fn truncated(&self) -> Device {
        let cut =
            |s: &Option<String>, max: usize| s.as_ref().map(|s| s.chars().take(max).collect());
        Device {
            user_agent: cut(&self.user_agent, MAX_USER_AGENT),
            ip: cut(&self.ip, MAX_IP),
        }
    }
}

/// What a login asks for: the user, remember-me, application claims and the device.
///
/// # Examples
///
/// ```
/// use tollgate::session::{Device, LoginRequest};
/// let request = LoginRequest::new("alice")
///     .with_remember_me(true)
///     .with_claim("role", "admin")?
///     .with_device(Device::new(Some("curl/8".into()), Some("203.0.113.7".into())));
/// assert!(request.remember_me());
/// assert!(LoginRequest::new("alice").with_claim("sid", "x").is_err());
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoginRequest {
    sub: String,
    remember_me: bool,
    claims: Map<String, Value>,
    device: Device,
}

impl LoginRequest {
    /// A login for `sub`, not remembered, without claims or device.
    pub fn new(sub: impl Into<String>) -> Self {
        LoginRequest {
            sub: sub.into(),
            remember_me: false,
            claims: Map::new(),
            device: Device::default(),
        }
    }

    /// Remember the login (the long, sliding refresh window) or not (the short one). Defaults
    /// to `false`.
    pub fn with_remember_me(mut self, remember_me: bool) -> Self {
        self.remember_me = remember_me;
        self
    }

    /// Adds an application claim to every access token of the session.
    ///
    /// # Errors
    ///
    /// `usage` for a registered claim name (`sub`, `sid`, `exp`, …) or a value that does not
    /// serialise.
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Serialize) -> Result<Self> {
        let name = name.into();
        check_name(&name)?;
        let value = serde_json::to_value(value)
            .map_err(|e| Error::usage(format!("claim {}: {e}", quoted(&name))))?;
        self.claims.insert(name, value);
        Ok(self)
    }

    /// Adds every member of a value that serialises to a JSON object.
    ///
    /// # Errors
    ///
    /// `usage` when it is not an object or uses a registered claim name.
    pub fn with_claims(mut self, claims: &impl Serialize) -> Result<Self> {
        let value =
            serde_json::to_value(claims).map_err(|e| Error::usage(format!("claims: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::usage("application claims must be a JSON object"));
        };
        for (name, value) in map {
            check_name(&name)?;
            self.claims.insert(name, value);
        }
        Ok(self)
    }

    /// Records where the login came from.
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The subject.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// Whether the login is remembered.
    pub fn remember_me(&self) -> bool {
        self.remember_me
    }
}

/// An access token and a refresh token: what login and refresh return.
///
/// Serialises to the CLI's JSON shape: `{"access_token", "refresh_token", "token_type":
/// "Bearer", "expires_in", "refresh_expires_in", "session_id", "remember_me"}`. `Debug` redacts
/// both tokens.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TokenPair {
    /// The signed access JWT. Secret: never log it.
    pub access_token: String,
    /// The opaque refresh token. Secret: never log it.
    pub refresh_token: String,
    /// Always `"Bearer"`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Seconds until the refresh token expires unless it is used (the current refresh window).
    pub refresh_expires_in: i64,
    /// The session id (the access token's `sid`).
    pub session_id: String,
    /// Whether the session is remembered.
    pub remember_me: bool,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("session_id", &self.session_id)
            .field("remember_me", &self.remember_me)
            .finish()
    }
}

/// One live session of a user, for a "where you're logged in" page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The session id.
    pub sid: String,
    /// The user.
    pub sub: String,
    /// Login time (Unix seconds).
    pub created: i64,
    /// Last login or refresh (Unix seconds).
    pub last_used: i64,
    /// Whether the login was remembered.
    pub remember_me: bool,
    /// When the refresh token expires unless used (Unix seconds).
    pub expires_at: i64,
    /// When the session ends whatever happens (Unix seconds).
    pub absolute_expires_at: i64,
    /// How many refresh tokens the session has had (1 + rotations).
    pub generation: u64,
    /// Where the login came from.
    pub device: Device,
}

impl From<SessionRecord> for SessionInfo {
    fn from(r: SessionRecord) -> Self {
        SessionInfo {
            sid: r.sid,
            sub: r.sub,
            created: r.created,
            last_used: r.last_used,
            remember_me: r.remember_me,
            expires_at: r.expires_at,
            absolute_expires_at: r.absolute_expires_at,
            generation: r.generation,
            device: r.device,
        }
    }
}

impl<S: SessionStore> Gate<S> {
    /// Sets the session lifetimes and grace window.
    pub fn with_session_config(mut self, config: SessionConfig) -> Self {
        self.sessions = config;
        self
    }

    /// The session lifetimes and grace window.
    pub fn session_config(&self) -> &SessionConfig {
        &self.sessions
    }

    /// How many refresh-token reuses (theft) this gate has detected.
    pub fn reuse_detections(&self) -> u64 {
        self.reuse_detections.load(Ordering::Relaxed)
    }

    /// Starts a session: a new refresh-token family and its first access token.
    ///
    /// # Errors
    ///
    /// `usage` for an empty or over-long subject or an access-token lifetime beyond the
    /// keyring's `max_ttl`; `bad_key` when the keyring has no active key; `store_unavailable`.
    pub async fn login(&self, request: &LoginRequest) -> Result<TokenPair> {
        let keyring = self.keyring()?;
        self.sessions.validate(keyring.max_ttl())?;
        if request.sub.is_empty() {
            return Err(Error::usage("the subject (sub) must not be empty"));
        }
        if request.sub.len() > MAX_ID_LEN {
            return Err(Error::usage(format!(
                "the subject {} is longer than {MAX_ID_LEN} bytes",
                quoted(&request.sub)
            )));
        }
        let now = self.clock().now();
        let sid = uuid::Uuid::new_v4().hyphenated().to_string();
        let secret = Secret::generate()?;
        let (window, lifetime) = if request.remember_me {
            (self.sessions.remember_window, self.sessions.absolute_max)
        } else {
            (self.sessions.refresh_window, self.sessions.refresh_window)
        };
        let absolute_expires_at = now.saturating_add(secs(lifetime));
        let record = SessionRecord {
            sid,
            sub: request.sub.clone(),
            generation: 1,
            created: now,
            last_used: now,
            rotated_at: now,
            remember_me: request.remember_me,
            window: secs(window),
            expires_at: now.saturating_add(secs(window)).min(absolute_expires_at),
            absolute_expires_at,
            claims: request.claims.clone(),
            device: request.device.truncated(),
            hash: secret.hash(),
            parent_hash: None,
            sealed: Vec::new(),
            ended_at: None,
        };
        let access = self.mint_access(&keyring, &record, &secret)?;
        self.store().create_session(&record, now).await?;
        tracing::info!(
            sid = %sid_prefix(&record.sid),
            remember_me = record.remember_me,
            "session started"
        );
        Ok(pair(access, &record, &secret, now))
    }

    /// Rotates a refresh token: returns a new pair and spends the presented token.
    ///
    /// Presenting the immediate parent again within the grace window returns the same pair as
    /// its first use; any other reuse revokes the whole session (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// `wrong_token_type` for an access token; `malformed` for anything else that is not a
    /// refresh token; `reused_refresh_token` on reuse (the session is now revoked);
    /// `unknown_session` for a session that does not exist, ended, expired or was revoked;
    /// `bad_key`; `usage` for lifetimes beyond the keyring's `max_ttl`; `store_unavailable`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        let presented = RefreshToken::parse(refresh_token)?;
        let keyring = self.keyring()?;
        self.sessions.validate(keyring.max_ttl())?;
        let now = self.clock().now();
        let sid = presented.sid.as_str();
        let successor = Secret::generate()?;
        let rotation = Rotation {
            sid: presented.sid.clone(),
            generation: presented.generation,
            hash: presented.secret.hash(),
            next_hash: successor.hash(),
            sealed: presented
                .secret
                .seal(sid, presented.generation + 1, &successor)?,
            grace: secs(self.sessions.grace),
            revocation_expires_at: now.saturating_add(self.scope_lifetime()),
        };
        match self.store().rotate_session(&rotation, now).await? {
            RotateOutcome::Rotated(record) => {
                tracing::debug!(sid = %sid_prefix(sid), generation = record.generation, "session refreshed");
                let access = self.mint_access(&keyring, &record, &successor)?;
                Ok(pair(access, &record, &successor, now))
            }
            RotateOutcome::Grace(record) => {
                let successor = presented
                    .secret
                    .open(sid, record.generation, &record.sealed)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::UnknownSession,
                            format!(
                                "the stored successor of session {} does not open; log in again",
                                sid_prefix(sid)
                            ),
                        )
                    })?;
                tracing::debug!(
                    sid = %sid_prefix(sid),
                    generation = presented.generation,
                    "parent refresh token replayed within the grace window"
                );
                let access = self.mint_access(&keyring, &record, &successor)?;
                Ok(pair(access, &record, &successor, now))
            }
            RotateOutcome::Reused(_) => {
                self.reuse_detections.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    sid = %sid_prefix(sid),
                    generation = presented.generation,
                    "refresh token reuse detected; session revoked"
                );
                Err(Error::new(
                    ErrorKind::ReusedRefreshToken,
                    format!(
                        "refresh token already used; session {} is now revoked, log in again",
                        sid_prefix(sid)
                    ),
                )
                .with_context("session", sid_prefix(sid))
                .with_context("generation", presented.generation))
            }
            RotateOutcome::Unknown => Err(unknown_session(sid)),
        }
    }

    /// Ends the session of an access token (whose signature must verify; it may have expired)
    /// or of a refresh token (the session's current one or the one it replaced: a token with
    /// the right session id but a wrong secret ends nothing), and revokes its live access
    /// tokens.
    ///
    /// # Errors
    ///
    /// The signature and structure kinds of [`verify`](crate::token::verify) for an access
    /// token, `missing_claim` when it has no `sid`; `malformed` for a broken refresh token,
    /// `unknown_session` when its session is not live; `store_unavailable`.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let now = self.clock().now();
        let expires_at = now.saturating_add(self.scope_lifetime());
        if token.starts_with(REFRESH_TOKEN_PREFIX) {
            let presented = RefreshToken::parse(token)?;
            // Only a genuine token (the current secret or its parent) ends the session: the
            // session id alone, which every access token carries, must not be enough.
            if self.refresh_session(token).await?.is_none() {
                return Err(unknown_session(&presented.sid));
            }
            return match self
                .store()
                .end_session(&presented.sid, None, expires_at, now)
                .await?
            {
                Some(record) => {
                    log_end(&record, "logout");
                    Ok(())
                }
                None => Err(unknown_session(&presented.sid)),
            };
        }
        let keyring = self.keyring()?;
        let verified = token::verify_inner::<Value>(
            token,
            keyring.key_set(),
            self.options(),
            self.clock(),
            Checks::Revocation,
        )?;
        let sid = verified.claims.sid.ok_or_else(|| {
            Error::new(
                ErrorKind::MissingClaim,
                "the token has no `sid` claim, so it belongs to no session; revoke it instead",
            )
            .with_context("claim", "sid")
        })?;
        let sub = verified.claims.sub;
        match self
            .store()
            .end_session(&sid, Some(&sub), expires_at, now)
            .await?
        {
            Some(record) => log_end(&record, "logout"),
            // No live family (a token from `mint`, or a session that ended): its access tokens
            // die all the same.
            None => {
                let entry = Revocation::new(Scope::Session, sid, now, expires_at);
                entry.validate()?;
                self.store().revoke(&entry, now).await?;
            }
        }
        Ok(())
    }

    /// Ends every session of `sub` and revokes every access token issued to `sub` up to now.
    /// Returns how many sessions were live.
    ///
    /// # Errors
    ///
    /// `usage` for an empty subject; `store_unavailable`.
    pub async fn logout_all(&self, sub: &str) -> Result<u64> {
        let now = self.clock().now();
        let expires_at = now.saturating_add(self.scope_lifetime());
        Revocation::new(Scope::User, sub, now, expires_at).validate()?;
        let ended = self
            .store()
            .end_user_sessions(sub, None, expires_at, now)
            .await?;
        self.revoke(Scope::User, sub).await?;
        tracing::info!(sub = %quoted(sub), ended, "logged out everywhere");
        Ok(ended)
    }

    /// The live sessions of `sub`, most recently used first.
    ///
    /// # Errors
    ///
    /// `store_unavailable`.
    pub async fn sessions(&self, sub: &str) -> Result<Vec<SessionInfo>> {
        let now = self.clock().now();
        let mut list: Vec<SessionInfo> = self
            .store()
            .user_sessions(sub, now)
            .await?
            .into_iter()
            .filter(|r| r.is_live(now) && r.sub == sub)
            .map(SessionInfo::from)
            .collect();
        list.sort_by(|a, b| {
            (b.last_used, b.created, &b.sid).cmp(&(a.last_used, a.created, &a.sid))
        });
        Ok(list)
    }

    /// Ends one session of `sub` ("log out that device") and revokes its access tokens.
    ///
    /// # Errors
    ///
    /// `unknown_session` when `sid` is not a live session of `sub`; `store_unavailable`.
    pub async fn end_session(&self, sub: &str, sid: &str) -> Result<()> {
        if !is_session_id(sid) {
            return Err(unknown_session(sid));
        }
        let now = self.clock().now();
        let expires_at = now.saturating_add(self.scope_lifetime());
        match self
            .store()
            .end_session(sid, Some(sub), expires_at, now)
            .await?
        {
            Some(record) => {
                log_end(&record, "ended by its user");
                Ok(())
            }
            None => Err(unknown_session(sid)),
        }
    }

    /// Ends every session of `sub` but `keep_sid` ("log out my other devices") and revokes
    /// their access tokens. Returns how many were ended.
    ///
    /// # Errors
    ///
    /// `store_unavailable`.
    pub async fn end_other_sessions(&self, sub: &str, keep_sid: &str) -> Result<u64> {
        let now = self.clock().now();
        let expires_at = now.saturating_add(self.scope_lifetime());
        let ended = self
            .store()
            .end_user_sessions(sub, Some(keep_sid), expires_at, now)
            .await?;
        tracing::info!(sub = %quoted(sub), kept = %sid_prefix(keep_sid), ended, "other sessions ended");
        Ok(ended)
    }

    /// Mints the access token of a session generation: deterministic given the record and the
    /// generation's refresh secret (the `jti` derives from the secret, `iat` is the rotation
    /// time), so that a grace-window replay re-derives the same token.
    fn mint_access(
        &self,
        keyring: &Keyring,
        record: &SessionRecord,
        secret: &Secret,
    ) -> Result<Minted> {
        let mut options = MintOptions::new(record.sub.clone())
            .with_ttl(self.sessions.access_ttl)
            .with_sid(record.sid.clone());
        if let Some(iss) = &self.options().issuer {
            options = options.with_issuer(iss.clone());
        }
        for aud in &self.options().audiences {
            options = options.with_audience(aud.clone());
        }
        options.extra.clone_from(&record.claims);
        options.jti = Some(secret.access_jti(&record.sid)?);
        token::mint(keyring, &options, &Clock::fixed(record.rotated_at))
    }
}

fn pair(access: Minted, record: &SessionRecord, secret: &Secret, now: i64) -> TokenPair {
    TokenPair {
        expires_in: access.claims.exp.saturating_sub(now).max(0),
        access_token: access.token,
        refresh_token: RefreshToken::format(&record.sid, record.generation, secret),
        token_type: TOKEN_TYPE,
        refresh_expires_in: record.expires_at.saturating_sub(now).max(0),
        session_id: record.sid.clone(),
        remember_me: record.remember_me,
    }
}

fn unknown_session(sid: &str) -> Error {
    Error::new(
        ErrorKind::UnknownSession,
        format!(
            "session {} does not exist, has ended or has expired; log in again",
            quoted(&sid_prefix(sid))
        ),
    )
}

fn log_end(record: &SessionRecord, why: &str) {
    tracing::info!(sid = %sid_prefix(&record.sid), why, "session ended");
}
