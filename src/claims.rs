//! Claims: the registered claims tollgate sets and checks, plus application claims, and the
//! mint-side [`MintOptions`] builder.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result, quoted};

/// Registered claim names tollgate owns; application claims may not use them.
pub const RESERVED: [&str; 9] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "sid",
    "auth_time",
];

/// Default access-token lifetime: 15 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// The claims of a verified access token: registered claims plus application claims `C`
/// (by default a JSON object of whatever else the token carries).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claims<C = Map<String, Value>> {
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject: the user. Always present in tollgate's own tokens and under RFC 9068; optional
    /// in other issuers' tokens under the RFC 7519 profile (require it with
    /// [`VerifyOptions::with_required_claim`](crate::VerifyOptions::with_required_claim)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audiences (serialised as a string when there is one).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "audience")]
    pub aud: Vec<String>,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Not before (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at (Unix seconds). Always present in tollgate's own tokens and under RFC 9068.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Token id (a UUID for tokens tollgate mints). Always present in tollgate's own tokens and
    /// under RFC 9068; a token without one can be revoked only through its user, key or
    /// issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The session the token belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the session was created (Unix seconds, on the store's clock): set by tollgate's
    /// sessions, compared with user and global revocations
    /// ([`covers`](crate::store::covers)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Application claims.
    #[serde(flatten)]
    pub extra: C,
}

fn audience<S: serde::Serializer>(aud: &[String], s: S) -> std::result::Result<S::Ok, S::Error> {
    match aud {
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

/// What to put in a new access token. `sub` is required; everything else has a default.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tollgate::MintOptions;
/// let options = MintOptions::new("alice")
///     .with_ttl(Duration::from_secs(300))
///     .with_audience("api")
///     .with_claim("role", "admin")?;
/// assert_eq!(options.sub(), "alice");
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MintOptions {
    pub(crate) sub: String,
    pub(crate) ttl: Duration,
    pub(crate) aud: Vec<String>,
    pub(crate) iss: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) kid: Option<String>,
    /// The token id; `None` (the only choice outside the crate) draws a random UUID.
    pub(crate) jti: Option<String>,
    /// The session's creation time (set by tollgate's sessions only).
    pub(crate) auth_time: Option<i64>,
    pub(crate) extra: Map<String, Value>,
}

impl MintOptions {
    /// A token for `sub` with the defaults: 15 minutes, no audience, no issuer, a new session id,
    /// signed by the active key.
    pub fn new(sub: impl Into<String>) -> Self {
        MintOptions {
            sub: sub.into(),
            ttl: DEFAULT_TTL,
            aud: Vec::new(),
            iss: None,
            sid: None,
            kid: None,
            jti: None,
            auth_time: None,
            extra: Map::new(),
        }
    }

    /// The subject.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// The audiences the token will carry.
    pub fn audiences(&self) -> &[String] {
        &self.aud
    }

    /// The issuer the token will carry.
    pub fn issuer(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// Lifetime. Defaults to 15 minutes; at most the keyring's `max_ttl`.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Adds an audience (call again for more).
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.aud.push(aud.into());
        self
    }

    /// Sets the issuer.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// Sets the session id (default: a new UUID).
    pub fn with_sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Requires the signing key to be this kid (it must be the active key).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Adds one application claim.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) for a registered claim name or a value
    /// that does not serialise.
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Serialize) -> Result<Self> {
        insert_claim(&mut self.extra, name.into(), value)?;
        Ok(self)
    }

    /// Adds every member of a value that serialises to a JSON object.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) when it is not an object or uses a
    /// registered claim name.
    pub fn with_claims(mut self, claims: &impl Serialize) -> Result<Self> {
        insert_claims(&mut self.extra, claims)?;
        Ok(self)
    }
}

/// Adds one application claim to `map`, refusing registered names.
pub(crate) fn insert_claim(
    map: &mut Map<String, Value>,
    name: String,
    value: impl Serialize,
) -> Result<()> {
    check_name(&name)?;
    let value = serde_json::to_value(value)
        .map_err(|e| Error::usage(format!("claim {}: {e}", quoted(&name))))?;
    map.insert(name, value);
    Ok(())
}

/// Adds every member of a value that serialises to a JSON object, refusing registered names.
pub(crate) fn insert_claims(map: &mut Map<String, Value>, claims: &impl Serialize) -> Result<()> {
    let value = serde_json::to_value(claims).map_err(|e| Error::usage(format!("claims: {e}")))?;
    let Value::Object(members) = value else {
        return Err(Error::usage("application claims must be a JSON object"));
    };
    for (name, value) in members {
        check_name(&name)?;
        map.insert(name, value);
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    if RESERVED.contains(&name) {
        return Err(Error::usage(format!(
            "claim {} is set by tollgate; use the matching option (--sub, --ttl, --aud, --iss, --sid) instead",
            quoted(name)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn registered_names_are_refused_as_application_claims() {
        for name in RESERVED {
            let err = MintOptions::new("a").with_claim(name, 1).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Usage);
        }
        assert!(MintOptions::new("a").with_claims(&[1, 2]).is_err());
    }

    #[test]
    fn one_audience_serialises_as_a_string() {
        let claims = Claims {
            iss: None,
            sub: Some("a".into()),
            aud: vec!["api".into()],
            exp: 2,
            nbf: Some(1),
            iat: Some(1),
            jti: Some("j".into()),
            sid: None,
            auth_time: None,
            extra: Map::new(),
        };
        let v = serde_json::to_value(&claims).unwrap();
        assert_eq!(v["aud"], "api");
        assert!(v.get("sid").is_none());
    }

    proptest! {
        #[test]
        fn application_claims_survive_serialisation(key in "[a-z]{1,8}", value in any::<i64>()) {
            prop_assume!(!RESERVED.contains(&key.as_str()));
            let options = MintOptions::new("a").with_claim(key.clone(), value).unwrap();
            let claims = Claims { iss: None, sub: Some("a".into()), aud: vec![], exp: 2, nbf: None,
                iat: Some(1), jti: Some("j".into()), sid: None, auth_time: None, extra: options.extra };
            let text = serde_json::to_string(&claims).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back[&key].as_i64(), Some(value));
        }
    }
}
