//! A key's metadata and life cycle, and the keyring manifest (`keyring.json`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::alg::Algorithm;
use crate::error::{Error, Result, quoted};

/// Where a key is in its life: `next` → `active` → `verify` → `retired` → pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published in the JWK Set, not signing yet; verifies (a peer may already sign with it).
    Next,
    /// Signs new tokens. Exactly one key is active.
    Active,
    /// No longer signs; verifies until every token it signed has expired.
    Verify,
    /// Rejected (`retired_kid`); deleted by `prune`.
    Retired,
}

impl KeyState {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Verify => "verify",
            KeyState::Retired => "retired",
        }
    }

    /// Whether tokens signed by a key in this state verify.
    pub fn verifies(self) -> bool {
        !matches!(self, KeyState::Retired)
    }

    /// Whether the key appears in the JWK Set.
    pub fn is_published(self) -> bool {
        self.verifies()
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key's record in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// Key id (RFC 7638 thumbprint unless given).
    pub kid: String,
    /// The one algorithm this key signs and verifies with.
    pub alg: Algorithm,
    /// Life-cycle state.
    pub state: KeyState,
    /// File name inside the keyring directory.
    pub file: String,
    /// Whether the file holds private material (false for imported public keys).
    pub private: bool,
    /// When the key was added (Unix seconds).
    pub created: i64,
    /// When it became active, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated: Option<i64>,
    /// When it stopped signing (became `verify`), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated: Option<i64>,
    /// The keyring's `max_ttl` when the key stopped signing: its tokens live at most that long
    /// (or the current `max_ttl`, if lower), even if `max_ttl` is raised afterwards, so that a
    /// revocation of the key sized at that moment outlives all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_max_ttl: Option<i64>,
    /// When it was retired, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<i64>,
    /// For an imported key: the issuer it is bound to (`keys import --iss`). Its tokens must
    /// carry that `iss`, and their ids live in that issuer's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

impl KeyEntry {
    /// For a key that has stopped signing: the time after which no token it signed can still be
    /// valid (`deactivated + max_ttl`, leeway not included). `None` while it still signs or never did.
    pub fn tokens_valid_until(&self, max_ttl: i64) -> Option<i64> {
        if !self.private {
            return None;
        }
        match self.state {
            KeyState::Verify | KeyState::Retired => self
                .deactivated
                .map(|t| t.saturating_add(self.token_lifetime(max_ttl))),
            KeyState::Active | KeyState::Next => None,
        }
    }

    /// The longest its tokens may live given the keyring's current `max_ttl`: that, or the
    /// `max_ttl` when the key stopped signing if that was lower.
    pub fn token_lifetime(&self, max_ttl: i64) -> i64 {
        self.deactivated_max_ttl
            .map_or(max_ttl, |then| then.min(max_ttl))
    }
}

/// Longest access-token lifetime a keyring allows by default: 24 hours.
pub const DEFAULT_MAX_TTL: i64 = 24 * 3600;

/// `keyring.json`: format version, the longest token lifetime, and the keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    /// The longest lifetime `mint` may give a token, in seconds. Bounds how long a `verify` key
    /// must stay and how long revocations of a session, user or key must be kept.
    pub max_ttl: i64,
    /// The keys, oldest first.
    pub keys: Vec<KeyEntry>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            version: 1,
            max_ttl: DEFAULT_MAX_TTL,
            keys: Vec::new(),
        }
    }
}

impl Manifest {
    /// Checks internal consistency: version, unique and well-formed kids, at most one active key.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.version != 1 {
            return Err(Error::bad_key(format!(
                "unsupported keyring format version {}; this tollgate reads version 1",
                self.version
            )));
        }
        if self.max_ttl <= 0 {
            return Err(Error::bad_key(
                "max_ttl must be a positive number of seconds",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for key in &self.keys {
            validate_kid(&key.kid).map_err(|e| Error::bad_key(e.message().to_string()))?;
            if !seen.insert(key.kid.as_str()) {
                return Err(Error::bad_key(format!(
                    "duplicate kid {}",
                    quoted(&key.kid)
                )));
            }
            if key.file.contains('/') || key.file.starts_with('.') {
                return Err(Error::bad_key(format!(
                    "bad key file name {}",
                    quoted(&key.file)
                )));
            }
        }
        let active = self
            .keys
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .count();
        if active > 1 {
            return Err(Error::bad_key(format!(
                "{active} keys are active; exactly one may be"
            )));
        }
        Ok(())
    }
}

/// A kid is 1–128 characters of `A-Z a-z 0-9 - _ .`, not starting with a dot.
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) naming the value.
pub fn validate_kid(kid: &str) -> Result<()> {
    let ok = !kid.is_empty()
        && kid.len() <= 128
        && !kid.starts_with('.')
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "invalid kid {}: use 1-128 characters of A-Z, a-z, 0-9, '-', '_' and '.', not starting with '.'",
            quoted(kid)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_rules_refuse_path_tricks() {
        for bad in ["", "../x", "a/b", ".hidden", "a b", "é", &"k".repeat(129)] {
            assert!(validate_kid(bad).is_err(), "{bad}");
        }
        for good in [
            "k1",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
            "2026.01",
        ] {
            validate_kid(good).unwrap();
        }
    }

    #[test]
    fn state_names_and_verification() {
        assert_eq!(serde_json::to_string(&KeyState::Next).unwrap(), "\"next\"");
        assert!(KeyState::Verify.verifies());
        assert!(!KeyState::Retired.verifies());
    }
}
