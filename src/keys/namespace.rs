//! Where a verifying key came from, and what that decides: the namespace of every id its tokens
//! carry ([`Namespace`]) and how long its tokens may live ([`LifetimeBound`]).
//!
//! Issuers are kept apart by the *origin of the key* that verified a token, never by the
//! token's `iss` claim: nothing signed by one issuer can revoke, end or unlock anything of
//! another, because revocation entries and sessions are keyed within the namespace.

use std::fmt;

/// The namespace of the ids (`jti`, `sid`, `sub`, `kid`) a token carries.
///
/// # Examples
///
/// ```
/// use tollgate::keys::Namespace;
/// assert_eq!(Namespace::Own.label(), "");
/// assert_eq!(Namespace::Issuer("https://idp.example".into()).label(), "iss:https://idp.example");
/// assert_ne!(Namespace::Own, Namespace::Key("k1".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Namespace {
    /// tollgate's own tokens: signed by keys generated in the keyring.
    #[default]
    Own,
    /// Tokens of a configured issuer: a key imported with `--iss`, or a trusted remote issuer.
    Issuer(String),
    /// Tokens of a key with no configured issuer (an imported key, a `--key` or `--secret`
    /// file): named by the key's RFC 7638 thumbprint (or, for a secret, a digest of it).
    Key(String),
}

impl Namespace {
    /// The namespace as the bytes hashed into every store key: empty for [`Namespace::Own`],
    /// `iss:<issuer>` or `key:<thumbprint>` otherwise.
    pub fn label(&self) -> String {
        match self {
            Namespace::Own => String::new(),
            Namespace::Issuer(iss) => format!("iss:{iss}"),
            Namespace::Key(thumbprint) => format!("key:{thumbprint}"),
        }
    }

    /// Whether these are tollgate's own tokens.
    pub fn is_own(&self) -> bool {
        matches!(self, Namespace::Own)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Namespace::Own => f.write_str("this keyring"),
            Namespace::Issuer(iss) => write!(f, "issuer {iss:?}"),
            Namespace::Key(thumbprint) => {
                let short: String = thumbprint.chars().take(8).collect();
                write!(f, "key {short}…")
            }
        }
    }
}

/// The default longest lifetime accepted from another issuer's token: 24 hours (counted from
/// now, since such tokens need not carry `iat`).
pub const DEFAULT_ISSUER_MAX_LIFETIME: i64 = 24 * 3600;

/// How long a key's tokens may live: what lets every revocation be sized so that it outlives
/// every token it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeBound {
    /// A key generated in the keyring: `exp - iat` at most the keyring's `max_ttl`, and once
    /// the key stopped signing (`deactivated`), `iat` at most that time plus the leeway.
    Keyring {
        /// The keyring's `max_ttl` in seconds.
        max_ttl: i64,
        /// When the key stopped signing (Unix seconds), for a key in the `verify` state.
        deactivated: Option<i64>,
    },
    /// Another issuer's key: `exp - now` at most `max` seconds.
    Issuer {
        /// The longest remaining lifetime accepted, in seconds.
        max: i64,
    },
}

impl LifetimeBound {
    /// The bound of another issuer's key with the default maximum (24 hours).
    pub fn issuer() -> Self {
        LifetimeBound::Issuer {
            max: DEFAULT_ISSUER_MAX_LIFETIME,
        }
    }

    /// The longest lifetime a token of this key can have, in seconds.
    pub fn max_lifetime(self) -> i64 {
        match self {
            LifetimeBound::Keyring { max_ttl, .. } => max_ttl,
            LifetimeBound::Issuer { max } => max,
        }
    }
}
