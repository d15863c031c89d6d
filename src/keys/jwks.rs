//! JSON Web Keys (RFC 7517), JWK Sets, and RFC 7638 thumbprints.
//!
//! [`Keyring::jwks`](crate::Keyring::jwks) publishes only the public keys of `next`, `active` and
//! `verify` keys; symmetric keys and private members are never part of a set.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::alg::Algorithm;
use crate::error::{Error, Result};
use crate::keys::material::{Curve, PublicKey, PublicParams};
use crate::keys::usage::{Operation, Usage};

/// One JSON Web Key. Only the members tollgate reads or writes.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `OKP`, `EC`, `RSA` or `oct`.
    pub kty: String,
    /// Key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use (`sig`).
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations (`sign`, `verify`, …), RFC 7517 §4.3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// Curve (`Ed25519`, `P-256`, `P-384`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public x coordinate / Ed25519 public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Public y coordinate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// PRIVATE: Ed25519 seed or EC scalar. Set only by an explicit private export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// PRIVATE: the symmetric secret. Set only by an explicit private export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
    /// RSA private members seen on input (RFC 7518 §6.3.2), kept only to notice them; never
    /// written.
    #[serde(default, skip_serializing)]
    p: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    q: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    dp: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    dq: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    qi: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    oth: Option<serde_json::Value>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private", &self.has_private_members())
            .finish_non_exhaustive()
    }
}

/// A JWK Set: `{"keys": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl Jwk {
    pub(crate) fn okp(x: String) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(x),
            ..Jwk::default()
        }
    }

    pub(crate) fn ec(crv: &str, x: String, y: String) -> Jwk {
        Jwk {
            kty: "EC".into(),
            crv: Some(crv.into()),
            x: Some(x),
            y: Some(y),
            ..Jwk::default()
        }
    }

    pub(crate) fn rsa(n: String, e: String) -> Jwk {
        Jwk {
            kty: "RSA".into(),
            n: Some(n),
            e: Some(e),
            ..Jwk::default()
        }
    }

    pub(crate) fn oct(k: String, alg: Algorithm) -> Jwk {
        Jwk {
            kty: "oct".into(),
            k: Some(k),
            alg: Some(alg.as_str().into()),
            ..Jwk::default()
        }
    }

    /// Sets `kid`, `alg` and `use: "sig"`.
    pub fn with_identity(mut self, kid: &str, alg: Algorithm) -> Jwk {
        self.kid = Some(kid.into());
        self.alg = Some(alg.as_str().into());
        self.use_ = Some("sig".into());
        self
    }

    /// Whether any private member (`d`, `k`, `p`, …) is present.
    pub fn has_private_members(&self) -> bool {
        self.private_member().is_some()
    }

    /// The name of the first private member present (`d`, `k`, `p`, `q`, `dp`, `dq`, `qi`,
    /// `oth`), for messages that must not show its value.
    pub(crate) fn private_member(&self) -> Option<&'static str> {
        [
            ("d", self.d.is_some()),
            ("k", self.k.is_some()),
            ("p", self.p.is_some()),
            ("q", self.q.is_some()),
            ("dp", self.dp.is_some()),
            ("dq", self.dq.is_some()),
            ("qi", self.qi.is_some()),
            ("oth", self.oth.is_some()),
        ]
        .into_iter()
        .find_map(|(name, present)| present.then_some(name))
    }

    /// The decoded `k` of an `oct` key.
    pub(crate) fn secret(&self) -> Option<Zeroizing<Vec<u8>>> {
        if self.kty != "oct" {
            return None;
        }
        let k = self.k.as_deref()?;
        let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(k).ok()?);
        (!bytes.is_empty()).then_some(bytes)
    }

    /// The algorithm named by `alg`, if any.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) for an `alg` outside the allow-list.
    pub fn algorithm(&self) -> Result<Option<Algorithm>> {
        match self.alg.as_deref() {
            None => Ok(None),
            Some(a) => Algorithm::from_header(a).map(Some).ok_or_else(|| {
                Error::bad_key(format!(
                    "JWK alg {} is not supported",
                    crate::error::quoted(a)
                ))
            }),
        }
    }

    /// The public key of a keyring's imported JWK file listed for `alg`: its `use`, `key_ops`
    /// and `alg` must let it verify with `alg`.
    pub(crate) fn public_key_for(&self, alg: Algorithm) -> Result<PublicKey> {
        let usage = Usage::of_jwk(self)?;
        usage.allow(Operation::Verify)?;
        usage.require_alg(alg)?;
        let public = self.public_key()?;
        if !public.allows(alg) {
            return Err(Error::bad_key(format!(
                "a {:?} key cannot verify {alg}",
                public.family()
            )));
        }
        Ok(public)
    }

    /// The public key of an `OKP`, `EC` or `RSA` JWK.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) for other key types or bad components.
    pub fn public_key(&self) -> Result<PublicKey> {
        let field = |v: &Option<String>, name: &str| -> Result<Vec<u8>> {
            let v = v
                .as_deref()
                .ok_or_else(|| Error::bad_key(format!("{} JWK has no `{name}`", self.kty)))?;
            URL_SAFE_NO_PAD
                .decode(v)
                .map_err(|_| Error::bad_key(format!("JWK member `{name}` is not base64url")))
        };
        let params = match (self.kty.as_str(), self.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => PublicParams::Ed {
                x: field(&self.x, "x")?,
            },
            ("EC", Some(crv)) => {
                let curve = match crv {
                    "P-256" => Curve::P256,
                    "P-384" => Curve::P384,
                    _ => return Err(Error::bad_key(format!("unsupported EC curve {crv:?}"))),
                };
                PublicParams::Ec {
                    curve,
                    x: field(&self.x, "x")?,
                    y: field(&self.y, "y")?,
                }
            }
            ("RSA", _) => PublicParams::Rsa {
                n: field(&self.n, "n")?,
                e: field(&self.e, "e")?,
            },
            (kty, crv) => {
                return Err(Error::bad_key(format!(
                    "unsupported JWK key type {kty:?}{}",
                    crv.map(|c| format!(" with curve {c:?}"))
                        .unwrap_or_default()
                )));
            }
        };
        PublicKey::from_components(params)
    }
}

/// The RFC 7638 SHA-256 thumbprint of a public key, base64url: the default `kid`.
pub fn thumbprint(key: &PublicKey) -> String {
    let jwk = key.to_jwk();
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    // Required members only, in lexicographic order, no whitespace (RFC 7638 §3).
    let canonical = match jwk.kty.as_str() {
        "OKP" => serde_json::json!({"crv": s(&jwk.crv), "kty": "OKP", "x": s(&jwk.x)}),
        "EC" => {
            serde_json::json!({"crv": s(&jwk.crv), "kty": "EC", "x": s(&jwk.x), "y": s(&jwk.y)})
        }
        _ => serde_json::json!({"e": s(&jwk.e), "kty": "RSA", "n": s(&jwk.n)}),
    };
    // serde_json's map is a BTreeMap here (no preserve_order), so keys are sorted.
    let text = canonical.to_string();
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = Jwk::rsa(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into(),
            "AQAB".into(),
        );
        let key = jwk.public_key().unwrap();
        assert_eq!(
            thumbprint(&key),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn private_members_are_detected_and_oct_is_not_public() {
        let jwk: Jwk = serde_json::from_str(r#"{"kty":"oct","k":"c2VjcmV0"}"#).unwrap();
        assert!(jwk.has_private_members());
        assert!(jwk.public_key().is_err());
        let rsa_private: Jwk =
            serde_json::from_str(r#"{"kty":"RSA","n":"AQAB","e":"AQAB","p":"AQAB"}"#).unwrap();
        assert!(rsa_private.has_private_members());
    }
}
