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
//! - `<secret>`: 32 bytes, base64url without padding: 16 random bytes from aws-lc-rs, then a
//!   16-byte tag, `HMAC-SHA256(session key, "tollgate/v1/refresh-tag" ‖ sid ‖ generation ‖
//!   random)`. The session key is 32 random bytes in the keyring directory (`session.key`, 0600,
//!   created on first login; every service that refreshes shares it with the keyring).
//!
//! It is opaque on purpose: it carries no claims and no expiry to trust. The tag exists for one
//! reason: the session id is in every access token, so without it anyone who saw an access
//! token could make up `tgr1.<sid>.<generation>.<junk>`, present it as a "reused" token and
//! have the victim's session ended. A token whose tag does not verify is refused
//! (`unknown_session`) before the store is asked and never counts as theft.
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
//!   the grace window), from a token whose tag proves this service issued it, is theft: somebody holds a spent token. The store ends the session and
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
//! let err = gate.refresh(&login.access_token).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::WrongTokenType);
//!
//! // Rotate. Replaying the spent token within the grace window returns the same pair...
//! let second = gate.refresh(&login.refresh_token).await?;
//! assert_eq!(gate.refresh(&login.refresh_token).await?.refresh_token, second.refresh_token);
//!
//! // ...but once the session has moved on, a replay is theft: the whole session is revoked.
//! let third = gate.refresh(&second.refresh_token).await?;
//! let err = gate.refresh(&login.refresh_token).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::ReusedRefreshToken);
//! let err = gate.verify::<serde_json::Value>(&third.access_token).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Revoked);
//! let err = gate.refresh(&third.refresh_token).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::UnknownSession);
//! assert_eq!(gate.reuse_detections(), 1);
//! # Ok::<(), tollgate::Error>(())
//! # }).unwrap();
//! ```
//!
//! [`Gate::refresh`]: crate::Gate::refresh
//! [`Gate::reuse_detections`]: crate::Gate::reuse_detections
//! [`SessionRecord`]: crate::store::SessionRecord
//! [`SessionStore`]: crate::store::SessionStore
//! [`SessionStore::purge_sessions`]: crate::store::SessionStore::purge_sessions
//! [`Rotation::apply`]: crate::store::Rotation::apply
//! [`Gate::login`]: crate::Gate::login

mod config;
mod login;
mod pair;
mod refresh;

pub(crate) use crate::store::sid_prefix;
pub(crate) use config::secs;
pub use config::{
    DEFAULT_ABSOLUTE_MAX, DEFAULT_ACCESS_TTL, DEFAULT_GRACE, DEFAULT_REFRESH_WINDOW,
    DEFAULT_REMEMBER_WINDOW, MAX_SESSION_LIFETIME, SessionConfig,
};
pub use login::LoginRequest;
pub use pair::{SessionInfo, TOKEN_TYPE, TokenPair};
pub(crate) use refresh::{RefreshToken, Secret, is_session_id};
