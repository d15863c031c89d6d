//! The one error type of tollgate: a stable [`ErrorKind`], a [`Class`] that maps to exit codes
//! and HTTP statuses, a human message written from context, and the cause chain.
//!
//! Kind strings are a public contract (the CLI's `--json` output and the HTTP service's bodies
//! carry them): they are spelled in [`ErrorKind::as_str`] and nowhere else.

use std::fmt;

/// A `Result` whose error is tollgate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as a stable machine-readable kind.
///
/// Branch on this, not on the message. Each kind belongs to one [`Class`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token is not a well-formed compact JWS (size, segments, base64url, JSON).
    Malformed,
    /// The signature does not match the key named by the token.
    BadSignature,
    /// The token's algorithm is not the one its key allows (or is `none`).
    DisallowedAlg,
    /// The token names no key, or a key that the keyring does not hold.
    UnknownKid,
    /// The token was signed by a key that has been retired.
    RetiredKid,
    /// The token's `exp` has passed (beyond the leeway).
    Expired,
    /// The token's `nbf` is still in the future (beyond the leeway).
    NotYetValid,
    /// The token's `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// The token's `aud` does not name an accepted audience.
    BadAudience,
    /// The token's `iss` is not the expected issuer.
    BadIssuer,
    /// A required claim is absent.
    MissingClaim,
    /// The token is of another type (a refresh token presented as an access token, …).
    WrongTokenType,
    /// The token, its session, its user or its key has been revoked.
    Revoked,
    /// A refresh token was presented again after it had been rotated.
    ReusedRefreshToken,
    /// The session named by a token does not exist (or has ended).
    UnknownSession,
    /// The revocation/session store could not be reached.
    StoreUnavailable,
    /// A key or keyring could not be read, parsed or trusted.
    BadKey,
    /// The caller asked for something that cannot be done as asked.
    Usage,
    /// An HTTP request carried no access token (no `Authorization: Bearer` header and no
    /// access cookie).
    MissingToken,
    /// The operating system refused something the environment should provide: a listening
    /// address, a signal handler, a file that must be read or written.
    Io,
    /// An HTTP caller's client credentials are absent or wrong (RFC 6749 §5.2).
    InvalidClient,
    /// An authenticated HTTP caller may not call this endpoint (RFC 6749 §5.2).
    UnauthorizedClient,
    /// An unsafe cross-origin browser request was refused by the CSRF check.
    CrossOrigin,
    /// The token claims a lifetime longer than its key allows (the keyring's `max_ttl`, or an
    /// issuer's maximum).
    TokenLifetimeExceeded,
    /// The token says it was issued after its key stopped signing.
    SignedAfterKeyDeactivated,
    /// A valid token that cannot be revoked on its own: another issuer's token without a
    /// `jti` (RFC 7009 §2.2.1).
    UnsupportedTokenType,
    /// A remote JWK Set (another issuer's keys, feature `remote`) could not be fetched: the
    /// issuer was unreachable, did not answer in time, redirected, answered other than 200, or
    /// sent too large a body; and no cached set could stand in (fail closed). A set that
    /// arrives but cannot be used is [`ErrorKind::BadKey`].
    JwksUnavailable,
}

/// The three ways a call can fail, which decide exit codes and HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// The token was rejected: exit 1, HTTP 401.
    Rejected,
    /// The request was wrong: exit 2, HTTP 400.
    Usage,
    /// The environment failed (keyring, store, a remote JWK Set): exit 3, HTTP 503.
    Environment,
}

impl ErrorKind {
    /// Every kind, in the order of the CLI contract.
    pub const ALL: [ErrorKind; 27] = [
        ErrorKind::Malformed,
        ErrorKind::BadSignature,
        ErrorKind::DisallowedAlg,
        ErrorKind::UnknownKid,
        ErrorKind::RetiredKid,
        ErrorKind::Expired,
        ErrorKind::NotYetValid,
        ErrorKind::IssuedInFuture,
        ErrorKind::BadAudience,
        ErrorKind::BadIssuer,
        ErrorKind::MissingClaim,
        ErrorKind::WrongTokenType,
        ErrorKind::Revoked,
        ErrorKind::ReusedRefreshToken,
        ErrorKind::UnknownSession,
        ErrorKind::StoreUnavailable,
        ErrorKind::BadKey,
        ErrorKind::Usage,
        ErrorKind::MissingToken,
        ErrorKind::Io,
        ErrorKind::InvalidClient,
        ErrorKind::UnauthorizedClient,
        ErrorKind::CrossOrigin,
        ErrorKind::TokenLifetimeExceeded,
        ErrorKind::SignedAfterKeyDeactivated,
        ErrorKind::UnsupportedTokenType,
        ErrorKind::JwksUnavailable,
    ];

    /// The stable snake_case name of this kind, as printed by the CLI and the HTTP service.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::BadSignature => "bad_signature",
            ErrorKind::DisallowedAlg => "disallowed_alg",
            ErrorKind::UnknownKid => "unknown_kid",
            ErrorKind::RetiredKid => "retired_kid",
            ErrorKind::Expired => "expired",
            ErrorKind::NotYetValid => "not_yet_valid",
            ErrorKind::IssuedInFuture => "issued_in_future",
            ErrorKind::BadAudience => "bad_audience",
            ErrorKind::BadIssuer => "bad_issuer",
            ErrorKind::MissingClaim => "missing_claim",
            ErrorKind::WrongTokenType => "wrong_token_type",
            ErrorKind::Revoked => "revoked",
            ErrorKind::ReusedRefreshToken => "reused_refresh_token",
            ErrorKind::UnknownSession => "unknown_session",
            ErrorKind::StoreUnavailable => "store_unavailable",
            ErrorKind::BadKey => "bad_key",
            ErrorKind::Usage => "usage",
            ErrorKind::MissingToken => "missing_token",
            ErrorKind::Io => "io",
            ErrorKind::InvalidClient => "invalid_client",
            ErrorKind::UnauthorizedClient => "unauthorized_client",
            ErrorKind::CrossOrigin => "cross_origin",
            ErrorKind::TokenLifetimeExceeded => "token_lifetime_exceeded",
            ErrorKind::SignedAfterKeyDeactivated => "signed_after_key_deactivated",
            ErrorKind::UnsupportedTokenType => "unsupported_token_type",
            ErrorKind::JwksUnavailable => "jwks_unavailable",
        }
    }

    /// Which [`Class`] this kind belongs to.
    pub fn class(self) -> Class {
        match self {
            ErrorKind::StoreUnavailable
            | ErrorKind::BadKey
            | ErrorKind::Io
            | ErrorKind::JwksUnavailable => Class::Environment,
            ErrorKind::Usage
            | ErrorKind::UnauthorizedClient
            | ErrorKind::CrossOrigin
            | ErrorKind::UnsupportedTokenType => Class::Usage,
            _ => Class::Rejected,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Class {
    /// The process exit code for this class: 1, 2 or 3.
    pub fn exit_code(self) -> u8 {
        match self {
            Class::Rejected => 1,
            Class::Usage => 2,
            Class::Environment => 3,
        }
    }

    /// The HTTP status code for this class: 401, 400 or 503.
    pub fn http_status(self) -> u16 {
        match self {
            Class::Rejected => 401,
            Class::Usage => 400,
            Class::Environment => 503,
        }
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// tollgate's error: a [`kind`](Error::kind), a message, structured context and a cause.
///
/// A verification that fails several checks returns one `Error` for the first failed check;
/// [`Error::all`] yields it followed by the others.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    context: Vec<(&'static str, serde_json::Value)>,
    source: Option<Source>,
    others: Vec<Error>,
}

impl Error {
    /// A new error of `kind` with a message (lower case, no trailing period: what happened, the
    /// values, what to do).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                context: Vec::new(),
                source: None,
                others: Vec::new(),
            }),
        }
    }

    /// Shorthand for an [`ErrorKind::Usage`] error.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Usage, message)
    }

    /// Shorthand for an [`ErrorKind::Malformed`] error.
    pub fn malformed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Malformed, message)
    }

    /// Shorthand for an [`ErrorKind::Io`] error.
    pub fn io(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Io, message)
    }

    /// Shorthand for an [`ErrorKind::BadKey`] error.
    pub fn bad_key(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::BadKey, message)
    }

    /// Adds a context field (shown in the CLI's `--json` error object and HTTP bodies).
    pub fn with_context(mut self, key: &'static str, value: impl Into<serde_json::Value>) -> Self {
        self.inner.context.push((key, value.into()));
        self
    }

    /// Attaches the underlying cause, reported by [`std::error::Error::source`].
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Appends further failed checks after this one.
    pub(crate) fn with_others(mut self, others: Vec<Error>) -> Self {
        self.inner.others = others;
        self
    }

    /// The stable kind to branch on.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The class of [`kind`](Error::kind): rejected, usage or environment.
    pub fn class(&self) -> Class {
        self.inner.kind.class()
    }

    /// The human message, without the causes.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Structured context fields (for example `("scope", "session")` on a revocation).
    pub fn context(&self) -> &[(&'static str, serde_json::Value)] {
        &self.inner.context
    }

    /// This error followed by every further failed check of the same verification.
    pub fn all(&self) -> impl Iterator<Item = &Error> {
        std::iter::once(self).chain(self.inner.others.iter())
    }

    /// Whether this error means a store could not be reached (fail closed).
    pub fn is_store_unavailable(&self) -> bool {
        self.inner.kind == ErrorKind::StoreUnavailable
    }

    /// The error as the JSON object of the CLI contract:
    /// `{"kind": "...", "message": "...", ...context}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("kind".into(), self.inner.kind.as_str().into());
        map.insert("message".into(), self.inner.message.clone().into());
        for (key, value) in &self.inner.context {
            map.insert((*key).into(), value.clone());
        }
        serde_json::Value::Object(map)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind.as_str())
            .field("message", &self.inner.message)
            .field("context", &self.inner.context)
            .field("others", &self.inner.others)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Writes an attacker-controlled string for a message: quoted, escaped, at most 64 characters.
pub(crate) fn quoted(value: &str) -> String {
    let mut out: String = value.chars().take(64).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_strings_are_the_cli_contract() {
        let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "malformed",
                "bad_signature",
                "disallowed_alg",
                "unknown_kid",
                "retired_kid",
                "expired",
                "not_yet_valid",
                "issued_in_future",
                "bad_audience",
                "bad_issuer",
                "missing_claim",
                "wrong_token_type",
                "revoked",
                "reused_refresh_token",
                "unknown_session",
                "store_unavailable",
                "bad_key",
                "usage",
                "missing_token",
                "io",
                "invalid_client",
                "unauthorized_client",
                "cross_origin",
                "token_lifetime_exceeded",
                "signed_after_key_deactivated",
                "unsupported_token_type",
                "jwks_unavailable",
            ]
        );
    }

    #[test]
    fn classes_map_to_exit_codes_and_statuses() {
        assert_eq!(ErrorKind::Expired.class().exit_code(), 1);
        assert_eq!(ErrorKind::Usage.class().exit_code(), 2);
        assert_eq!(ErrorKind::BadKey.class().exit_code(), 3);
        assert_eq!(ErrorKind::StoreUnavailable.class().http_status(), 503);
        assert_eq!(ErrorKind::JwksUnavailable.class().exit_code(), 3);
        assert_eq!(ErrorKind::JwksUnavailable.class().http_status(), 503);
        assert_eq!(ErrorKind::Revoked.class().http_status(), 401);
    }

    #[test]
    fn json_carries_kind_message_and_context() {
        let e = Error::new(ErrorKind::Revoked, "token revoked").with_context("scope", "session");
        let j = e.to_json();
        assert_eq!(j["kind"], "revoked");
        assert_eq!(j["scope"], "session");
        assert_eq!(j["message"], "token revoked");
    }

    #[test]
    fn quoted_truncates_and_escapes() {
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        assert!(quoted(&"x".repeat(100)).ends_with("…\""));
    }
}
