//! What login and refresh return ([`TokenPair`]) and what a session list shows
//! ([`SessionInfo`]).

use serde::Serialize;

use crate::store::{Device, SessionRecord};

/// The `token_type` of every [`TokenPair`] (RFC 6750).
pub const TOKEN_TYPE: &str = "Bearer";

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
