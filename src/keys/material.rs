//! Key material: generation (aws-lc-rs), parsing of PKCS#8/SPKI PEM and JWK, public key
//! derivation, and conversion to jsonwebtoken's signing and verifying keys.
//!
//! Secrets live in [`Zeroizing`] buffers and never appear in `Debug` output or messages.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{KeySize, PublicKey as RsaPublic};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED,
    ECDSA_P384_SHA384_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
    RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use zeroize::Zeroizing;

use crate::alg::{Algorithm, Family};
use crate::error::{Error, Result};
use crate::keys::asn1;
use crate::keys::entry::KeyState;
use crate::keys::jwks::Jwk;
use crate::keys::set::VerifyingKey;
use crate::keys::strength;
use crate::keys::usage::{Operation, Usage};

/// The elliptic curve of an EC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (ES256).
    P256,
    /// NIST P-384 (ES384).
    P384,
}

impl Curve {
    /// The JWK `crv` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    /// The length of one coordinate in bytes.
    pub(crate) fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

/// The public half of an asymmetric key, in the components JWK needs and as SPKI DER.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    params: PublicParams,
    spki: Vec<u8>,
}

/// Public components by key type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicParams {
    Ed {
        x: Vec<u8>,
    },
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("family", &self.family())
            .finish_non_exhaustive()
    }
}

fn der_error(what: &str) -> Error {
    Error::bad_key(format!("could not encode the {what} as DER"))
}

impl PublicKey {
    #[cfg(test)]
    pub(crate) fn params(&self) -> &PublicParams {
        &self.params
    }

    /// The key family (Ed, EC or RSA).
    pub fn family(&self) -> Family {
        match self.params {
            PublicParams::Ed { .. } => Family::Ed,
            PublicParams::Ec { .. } => Family::Ec,
            PublicParams::Rsa { .. } => Family::Rsa,
        }
    }

    /// The curve of an EC key.
    pub fn curve(&self) -> Option<Curve> {
        match self.params {
            PublicParams::Ec { curve, .. } => Some(curve),
            _ => None,
        }
    }

    /// The SubjectPublicKeyInfo DER encoding.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The SPKI PEM encoding (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki.clone()))
    }

    /// Parses a SubjectPublicKeyInfo (DER) of an Ed25519, P-256, P-384 or RSA key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) when it is none of those, or the key is
    /// invalid or too weak.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey> {
        PublicKey::from_components(asn1::spki_params(der)?)
    }

    fn ec(curve: Curve, point: &[u8], spki: Vec<u8>) -> PublicKey {
        let n = curve.coordinate_len();
        let (x, y) = point[1..].split_at(n);
        PublicKey {
            params: PublicParams::Ec {
                curve,
                x: x.to_vec(),
                y: y.to_vec(),
            },
            spki,
        }
    }

    fn from_rsa(rsa: &RsaPublic) -> Result<PublicKey> {
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(rsa);
        strength::check_rsa(&components.n, &components.e)?;
        let spki = rsa.as_der().map_err(|_| der_error("RSA public key"))?;
        Ok(PublicKey {
            params: PublicParams::Rsa {
                n: components.n,
                e: components.e,
            },
            spki: spki.as_ref().to_vec(),
        })
    }

    /// Builds a public key from JWK components (`OKP`, `EC` or `RSA`).
    pub(crate) fn from_components(params: PublicParams) -> Result<PublicKey> {
        let bad = |what: &str| Error::bad_key(format!("invalid {what} public key components"));
        match params {
            PublicParams::Ed { x } => {
                let parsed = UnparsedPublicKey::new(&ED25519, &x)
                    .parse()
                    .map_err(|_| bad("Ed25519"))?;
                let spki = parsed.as_der().map_err(|_| bad("Ed25519"))?;
                Ok(PublicKey {
                    params: PublicParams::Ed { x },
                    spki: spki.as_ref().to_vec(),
                })
            }
            PublicParams::Ec { curve, x, y } => {
                if x.len() != curve.coordinate_len() || y.len() != curve.coordinate_len() {
                    return Err(bad(curve.as_str()));
                }
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let alg = match curve {
                    Curve::P256 => &ECDSA_P256_SHA256_FIXED,
                    Curve::P384 => &ECDSA_P384_SHA384_FIXED,
                };
                let parsed = UnparsedPublicKey::new(alg, &point)
                    .parse()
                    .map_err(|_| bad(curve.as_str()))?;
                let spki = parsed.as_der().map_err(|_| bad(curve.as_str()))?;
                Ok(PublicKey {
                    params: PublicParams::Ec { curve, x, y },
                    spki: spki.as_ref().to_vec(),
                })
            }
            PublicParams::Rsa { n, e } => {
                // The rules first, so a weak key is refused for what it is.
                strength::check_rsa(&n, &e)?;
                let der = rsa_public_key_der(&n, &e);
                let rsa = RsaPublic::from_der(&der).map_err(|_| bad("RSA"))?;
                PublicKey::from_rsa(&rsa)
            }
        }
    }

    /// The jsonwebtoken verifying key.
    pub(crate) fn decoding_key(&self) -> DecodingKey {
        match &self.params {
            PublicParams::Ed { x } => DecodingKey::from_ed_der(x),
            PublicParams::Ec { x, y, .. } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(4);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                DecodingKey::from_ec_der(&point)
            }
            PublicParams::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
        }
    }

    /// Whether `alg` can be used with this key.
    pub fn allows(&self, alg: Algorithm) -> bool {
        match (&self.params, alg) {
            (
                PublicParams::Ec {
                    curve: Curve::P256, ..
                },
                Algorithm::ES256,
            ) => true,
            (
                PublicParams::Ec {
                    curve: Curve::P384, ..
                },
                Algorithm::ES384,
            ) => true,
            (PublicParams::Ec { .. }, _) => false,
            _ => alg.family() == self.family(),
        }
    }

    /// The public JWK (no kid, no alg): the members RFC 7638 hashes.
    pub fn to_jwk(&self) -> Jwk {
        let b64 = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        match &self.params {
            PublicParams::Ed { x } => Jwk::okp(b64(x)),
            PublicParams::Ec { curve, x, y } => Jwk::ec(curve.as_str(), b64(x), b64(y)),
            PublicParams::Rsa { n, e } => Jwk::rsa(b64(n), b64(e)),
        }
    }
}

/// DER of PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, l: usize) {
        if l < 0x80 {
            out.push(l as u8);
        } else {
            let bytes = l.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let v = &v[v
            .iter()
            .take_while(|b| **b == 0)
            .count()
            .min(v.len().saturating_sub(1))..];
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        len(out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = vec![0x30];
    len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// Private material: a PKCS#8 document for asymmetric keys, raw bytes for HMAC secrets (with
/// the `use`/`key_ops` of the `oct` JWK file they were read from).
pub(crate) enum Secret {
    Pkcs8(Zeroizing<Vec<u8>>),
    Hmac {
        key: Zeroizing<Vec<u8>>,
        usage: Usage,
    },
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

fn random_error() -> Error {
    Error::bad_key("the system random number generator failed")
}

/// A stored private key that parsed once but cannot be read back as `alg`'s key pair.
fn stored_key_error(alg: Algorithm) -> Error {
    Error::bad_key(format!(
        "the stored private key is not a valid {alg} key; its file is corrupt or was edited: \
         restore it from a backup, or retire the key (`tollgate keys retire KID`)"
    ))
}

/// Generates new private material for `alg` (RSA: 2048 bits for RS256/PS256, 3072 for *384,
/// 4096 for *512).
pub(crate) fn generate(alg: Algorithm) -> Result<Secret> {
    let pkcs8 = |doc: Pkcs8V1Der<'static>| Secret::Pkcs8(Zeroizing::new(doc.as_ref().to_vec()));
    Ok(match alg {
        Algorithm::EdDSA => {
            let kp = Ed25519KeyPair::generate().map_err(|_| random_error())?;
            pkcs8(kp.as_der().map_err(|_| random_error())?)
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let signing = if alg == Algorithm::ES256 {
                &ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &ECDSA_P384_SHA384_FIXED_SIGNING
            };
            let kp = EcdsaKeyPair::generate(signing).map_err(|_| random_error())?;
            let doc = kp.to_pkcs8v1().map_err(|_| random_error())?;
            Secret::Pkcs8(Zeroizing::new(doc.as_ref().to_vec()))
        }
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let len = match alg {
                Algorithm::HS256 => 32,
                Algorithm::HS384 => 48,
                _ => 64,
            };
            let mut bytes = Zeroizing::new(vec![0u8; len]);
            SystemRandom::new()
                .fill(&mut bytes)
                .map_err(|_| random_error())?;
            Secret::Hmac {
                key: bytes,
                usage: Usage::any(),
            }
        }
        _ => {
            let size = match alg {
                Algorithm::RS256 | Algorithm::PS256 => KeySize::Rsa2048,
                Algorithm::RS384 | Algorithm::PS384 => KeySize::Rsa3072,
                _ => KeySize::Rsa4096,
            };
            let kp = RsaKeyPair::generate(size).map_err(|_| random_error())?;
            pkcs8(kp.as_der().map_err(|_| random_error())?)
        }
    })
}

impl Secret {
    /// Parses a keyring's private key file for `alg`: PKCS#8 PEM for asymmetric keys, an `oct`
    /// JWK for secrets. The key must be strong enough (see [`strength`]), and an `oct` JWK's
    /// `use`, `key_ops` and `alg` must let it verify with `alg` (signing is checked by
    /// [`Secret::encoding_key`]).
    pub(crate) fn parse(bytes: &[u8], alg: Algorithm) -> Result<Secret> {
        if alg.is_symmetric() {
            let jwk: Jwk = serde_json::from_slice(bytes)
                .map_err(|e| Error::bad_key(format!("not a JSON Web Key ({e})")))?;
            let key = jwk
                .secret()
                .ok_or_else(|| Error::bad_key("not an oct JWK with a `k` member"))?;
            let usage = Usage::of_jwk(&jwk)?;
            usage.allow(Operation::Verify)?;
            usage.require_alg(alg)?;
            strength::check_hmac(key.len(), Some(alg))?;
            return Ok(Secret::Hmac { key, usage });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| Error::bad_key("not a PEM file"))?;
        let block =
            pem::parse(text).map_err(|e| Error::bad_key(format!("not a PEM file ({e})")))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(Error::bad_key(format!(
                "expected a PKCS#8 \"PRIVATE KEY\" PEM block, found {:?}",
                block.tag()
            )));
        }
        let secret = Secret::Pkcs8(Zeroizing::new(block.into_contents()));
        secret.public_key(alg)?;
        Ok(secret)
    }

    /// The public key of an asymmetric secret (`None` for HMAC).
    pub(crate) fn public_key(&self, alg: Algorithm) -> Result<Option<PublicKey>> {
        let Secret::Pkcs8(der) = self else {
            return Ok(None);
        };
        let wrong = || Error::bad_key(format!("the private key is not a valid {alg} key"));
        let public = match alg {
            Algorithm::EdDSA => {
                let kp = Ed25519KeyPair::from_pkcs8(der).map_err(|_| wrong())?;
                let x = kp.public_key().as_ref().to_vec();
                let spki: PublicKeyX509Der<'static> =
                    kp.public_key().as_der().map_err(|_| wrong())?;
                PublicKey {
                    params: PublicParams::Ed { x },
                    spki: spki.as_ref().to_vec(),
                }
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let (signing, curve) = if alg == Algorithm::ES256 {
                    (&ECDSA_P256_SHA256_FIXED_SIGNING, Curve::P256)
                } else {
                    (&ECDSA_P384_SHA384_FIXED_SIGNING, Curve::P384)
                };
                let kp = EcdsaKeyPair::from_pkcs8(signing, der).map_err(|_| wrong())?;
                let spki: PublicKeyX509Der<'static> =
                    kp.public_key().as_der().map_err(|_| wrong())?;
                PublicKey::ec(curve, kp.public_key().as_ref(), spki.as_ref().to_vec())
            }
            _ => {
                let kp = RsaKeyPair::from_pkcs8(der).map_err(|_| wrong())?;
                PublicKey::from_rsa(kp.public_key())?
            }
        };
        Ok(Some(public))
    }

    /// The jsonwebtoken signing key.
    pub(crate) fn encoding_key(&self, alg: Algorithm) -> Result<EncodingKey> {
        match self {
            Secret::Hmac { key, usage } => {
                usage.allow(Operation::Sign)?;
                EncodingKey::from_secret(key)
                    .map_err(|e| Error::bad_key("empty HMAC secret").with_source(e))
            }
            Secret::Pkcs8(der) => Ok(match alg.family() {
                Family::Ed => EncodingKey::from_ed_der(der),
                Family::Ec => EncodingKey::from_ec_der(der),
                Family::Hmac => return Err(Error::bad_key("HMAC keys are not PKCS#8")),
                Family::Rsa => {
                    let pem = Zeroizing::new(self.to_pem());
                    EncodingKey::from_rsa_pem(pem.as_bytes())
                        .map_err(|e| Error::bad_key("unreadable RSA private key").with_source(e))?
                }
            }),
        }
    }

    /// The HMAC verifying key (`None` for asymmetric keys and empty secrets).
    pub(crate) fn hmac_verifying_key(
        &self,
        kid: String,
        state: KeyState,
        alg: Algorithm,
    ) -> Option<VerifyingKey> {
        match self {
            Secret::Hmac { key, .. } => VerifyingKey::from_secret(Some(kid), state, vec![alg], key),
            Secret::Pkcs8(_) => None,
        }
    }

    /// PKCS#8 PEM of an asymmetric key. Callers hold the result in a `Zeroizing` buffer.
    pub(crate) fn to_pem(&self) -> String {
        match self {
            Secret::Pkcs8(der) => pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec())),
            Secret::Hmac { .. } => String::new(),
        }
    }

    /// The file contents to store: PKCS#8 PEM, or an `oct` JWK for HMAC secrets.
    pub(crate) fn to_file(&self, alg: Algorithm) -> Zeroizing<Vec<u8>> {
        match self {
            Secret::Pkcs8(_) => Zeroizing::new(self.to_pem().into_bytes()),
            Secret::Hmac { key: k, .. } => {
                let jwk = Jwk::oct(URL_SAFE_NO_PAD.encode(k.as_slice()), alg);
                Zeroizing::new(serde_json::to_vec_pretty(&jwk).unwrap_or_default())
            }
        }
    }

    /// The private JWK (`oct` for HMAC; `d` for Ed25519 and EC). RSA private keys export as PEM.
    pub(crate) fn to_private_jwk(&self, alg: Algorithm) -> Result<Jwk> {
        let b64 = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        match (self, alg.family()) {
            (Secret::Hmac { key, .. }, _) => Ok(Jwk::oct(b64(key), alg)),
            (Secret::Pkcs8(der), Family::Ed) => {
                use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin};
                let kp = Ed25519KeyPair::from_pkcs8(der).map_err(|_| stored_key_error(alg))?;
                let seed = kp.seed().map_err(|_| stored_key_error(alg))?;
                let bin: Curve25519SeedBin<'static> =
                    seed.as_be_bytes().map_err(|_| stored_key_error(alg))?;
                let mut jwk = self
                    .public_key(alg)?
                    .map(|p| p.to_jwk())
                    .unwrap_or_default();
                jwk.d = Some(b64(bin.as_ref()));
                Ok(jwk)
            }
            (Secret::Pkcs8(der), Family::Ec) => {
                use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
                let signing = if alg == Algorithm::ES256 {
                    &ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let kp =
                    EcdsaKeyPair::from_pkcs8(signing, der).map_err(|_| stored_key_error(alg))?;
                let bin: EcPrivateKeyBin<'static> = kp
                    .private_key()
                    .as_be_bytes()
                    .map_err(|_| stored_key_error(alg))?;
                let mut jwk = self
                    .public_key(alg)?
                    .map(|p| p.to_jwk())
                    .unwrap_or_default();
                jwk.d = Some(b64(bin.as_ref()));
                Ok(jwk)
            }
            _ => Err(Error::usage(
                "RSA private keys export only as PKCS#8 PEM; use --format pem",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_key_that_cannot_be_read_back_says_so() {
        // An Ed25519 PKCS#8 document read as a P-256 key: what a corrupt or edited file gives.
        let ed = generate(Algorithm::EdDSA).unwrap();
        let message = ed
            .to_private_jwk(Algorithm::ES256)
            .unwrap_err()
            .message()
            .to_string();
        assert!(message.contains("not a valid ES256 key"), "{message}");
        assert!(!message.contains("random"), "{message}");
    }

    #[test]
    fn every_algorithm_generates_and_round_trips_through_its_file_format() {
        for alg in Algorithm::ALL {
            if matches!(
                alg,
                Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS384 | Algorithm::PS512
            ) {
                continue; // same code path as RS256; large RSA generation is slow in debug builds
            }
            let secret = generate(alg).unwrap();
            let file = secret.to_file(alg);
            let again = Secret::parse(&file, alg).unwrap();
            assert_eq!(
                secret.public_key(alg).unwrap(),
                again.public_key(alg).unwrap(),
                "{alg}"
            );
            secret.encoding_key(alg).unwrap();
        }
    }

    #[test]
    fn spki_round_trips_for_each_family() {
        for alg in [
            Algorithm::EdDSA,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::RS256,
        ] {
            let public = generate(alg).unwrap().public_key(alg).unwrap().unwrap();
            let parsed = PublicKey::from_spki_der(public.spki_der()).unwrap();
            assert_eq!(parsed, public, "{alg}");
            assert!(parsed.allows(alg));
        }
    }

    #[test]
    fn rsa_components_rebuild_the_same_key() {
        let public = generate(Algorithm::RS256)
            .unwrap()
            .public_key(Algorithm::RS256)
            .unwrap()
            .unwrap();
        let again = PublicKey::from_components(public.params().clone()).unwrap();
        assert_eq!(again, public);
    }

    #[test]
    fn debug_never_shows_secret_bytes() {
        let secret = generate(Algorithm::HS256).unwrap();
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    }
}
