//! The algorithm allow-list: the twelve JWS algorithms tollgate signs and verifies.
//!
//! `none` is not an algorithm here and never will be. Parsing a token's header is exact and
//! case-sensitive (`"eddsa"` is not `"EdDSA"`); parsing user input with [`Algorithm::parse_loose`]
//! ignores case.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result, quoted};

/// A signing algorithm tollgate supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// Ed25519 signatures (RFC 8037). The default.
    #[default]
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// HMAC with SHA-256 (symmetric).
    HS256,
    /// HMAC with SHA-384 (symmetric).
    HS384,
    /// HMAC with SHA-512 (symmetric).
    HS512,
}

/// The key type an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Ed25519 (`kty: OKP`).
    Ed,
    /// NIST curves (`kty: EC`).
    Ec,
    /// RSA (`kty: RSA`).
    Rsa,
    /// A shared secret (`kty: oct`).
    Hmac,
}

impl Algorithm {
    /// All twelve algorithms.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    /// The key family this algorithm needs.
    pub fn family(self) -> Family {
        match self {
            Algorithm::EdDSA => Family::Ed,
            Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
            _ => Family::Rsa,
        }
    }

    /// Whether the key is a shared secret (never published, never exported without `--private`).
    pub fn is_symmetric(self) -> bool {
        self.family() == Family::Hmac
    }

    /// Exact, case-sensitive match of a JWS header's `alg` value.
    pub fn from_header(alg: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == alg)
    }

    /// Case-insensitive parse of user input (`--alg eddsa`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) naming the value and the accepted names.
    pub fn parse_loose(text: &str) -> Result<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                Error::usage(format!(
                    "unsupported algorithm {}; use one of {}",
                    quoted(text),
                    Algorithm::ALL.map(Algorithm::as_str).join(", ")
                ))
            })
    }

    /// The same algorithm in jsonwebtoken's terms.
    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Algorithm::EdDSA => J::EdDSA,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
        }
    }

    /// Every algorithm of `family`.
    pub fn of_family(family: Family) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| a.family() == family)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Algorithm::parse_loose(s)
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Algorithm::from_header(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unsupported algorithm {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_match_is_exact_and_none_is_never_an_algorithm() {
        assert_eq!(Algorithm::from_header("EdDSA"), Some(Algorithm::EdDSA));
        assert_eq!(Algorithm::from_header("eddsa"), None);
        for none in ["none", "None", "NONE", "nOnE"] {
            assert_eq!(Algorithm::from_header(none), None);
            assert!(Algorithm::parse_loose(none).is_err());
        }
    }

    #[test]
    fn loose_parse_ignores_case() {
        assert_eq!(Algorithm::parse_loose("es256").unwrap(), Algorithm::ES256);
        assert_eq!("Ps512".parse::<Algorithm>().unwrap(), Algorithm::PS512);
    }

    #[test]
    fn families() {
        assert!(Algorithm::HS384.is_symmetric());
        assert_eq!(Algorithm::PS256.family(), Family::Rsa);
        assert_eq!(Algorithm::of_family(Family::Rsa).count(), 6);
    }
}
