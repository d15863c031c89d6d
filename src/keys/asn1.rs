//! The DER structures key files come in, read with RustCrypto's `spki`, `pkcs8` and `x509-cert`:
//! a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), a PKCS#8 PrivateKeyInfo (RFC 5208/5958), an X.509
//! certificate (its SubjectPublicKeyInfo; validity and signature are not looked at), and the
//! PKCS#1 `RSAPublicKey` inside an RSA SubjectPublicKeyInfo.
//!
//! This module only tells which key a structure holds; aws-lc-rs checks the key itself.

use pkcs8::PrivateKeyInfoRef;
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, UintRef};
use x509_cert::der::{Decode, Encode, Reader, SliceReader};
use x509_cert::spki::SubjectPublicKeyInfoRef;

use crate::alg::Algorithm;
use crate::error::{Error, Result};
use crate::keys::material::{Curve, PublicParams};

const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// What a DER document is, told by its structure alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DerKind {
    /// A SubjectPublicKeyInfo.
    Spki,
    /// A PKCS#8 PrivateKeyInfo.
    Pkcs8,
    /// An X.509 certificate.
    Certificate,
}

impl DerKind {
    /// Which structure `der` is, if it is one of the three (the whole input, nothing trailing).
    pub(crate) fn of(der: &[u8]) -> Option<DerKind> {
        if SubjectPublicKeyInfoRef::from_der(der).is_ok() {
            Some(DerKind::Spki)
        } else if PrivateKeyInfoRef::from_der(der).is_ok() {
            Some(DerKind::Pkcs8)
        } else if Certificate::from_der(der).is_ok() {
            Some(DerKind::Certificate)
        } else {
            None
        }
    }
}

/// The public components in a SubjectPublicKeyInfo.
///
/// # Errors
///
/// `bad_key` when it is not a SubjectPublicKeyInfo, or holds a key type or curve tollgate does
/// not support (the message names it).
pub(crate) fn spki_params(der: &[u8]) -> Result<PublicParams> {
    let info = SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| Error::bad_key(format!("not a DER SubjectPublicKeyInfo ({e})")))?;
    let key = info.subject_public_key.as_bytes().ok_or_else(|| {
        Error::bad_key("the SubjectPublicKeyInfo's key is not a whole number of bytes")
    })?;
    let oid = info.algorithm.oid;
    if oid == ED25519 {
        return Ok(PublicParams::Ed { x: key.to_vec() });
    }
    if oid == EC_PUBLIC_KEY {
        let curve = ec_curve(info.algorithm.parameters_oid().ok())?;
        let n = curve.coordinate_len();
        return match key.split_first() {
            Some((4, xy)) if xy.len() == 2 * n => Ok(PublicParams::Ec {
                curve,
                x: xy[..n].to_vec(),
                y: xy[n..].to_vec(),
            }),
            _ => Err(Error::bad_key(format!(
                "the {} public key is not an uncompressed point",
                curve.as_str()
            ))),
        };
    }
    if oid == RSA_ENCRYPTION {
        let (n, e) = rsa_public_key(key)?;
        return Ok(PublicParams::Rsa { n, e });
    }
    Err(unsupported(oid))
}

/// The algorithm whose key type a PKCS#8 private key has (RSA keys: `RS256`, the family's first).
///
/// # Errors
///
/// `bad_key` when it is not PKCS#8 or of an unsupported key type or curve.
pub(crate) fn pkcs8_algorithm(der: &[u8]) -> Result<Algorithm> {
    let info = PrivateKeyInfoRef::from_der(der)
        .map_err(|e| Error::bad_key(format!("not a DER PKCS#8 private key ({e})")))?;
    let oid = info.algorithm.oid;
    if oid == ED25519 {
        Ok(Algorithm::EdDSA)
    } else if oid == EC_PUBLIC_KEY {
        Ok(match ec_curve(info.algorithm.parameters_oid().ok())? {
            Curve::P256 => Algorithm::ES256,
            Curve::P384 => Algorithm::ES384,
        })
    } else if oid == RSA_ENCRYPTION {
        Ok(Algorithm::RS256)
    } else {
        Err(unsupported(oid))
    }
}

/// The DER SubjectPublicKeyInfo of an X.509 certificate. Its validity period, issuer and
/// signature are not checked: the certificate is only a container for the key.
///
/// # Errors
///
/// `bad_key` when it is not a certificate.
pub(crate) fn certificate_spki(der: &[u8]) -> Result<Vec<u8>> {
    let cert = Certificate::from_der(der)
        .map_err(|e| Error::bad_key(format!("not a DER X.509 certificate ({e})")))?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| Error::bad_key(format!("cannot encode the certificate's key ({e})")))
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017 A.1.1):
/// the big-endian magnitudes of n and e.
fn rsa_public_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let bad = |e: x509_cert::der::Error| Error::bad_key(format!("invalid RSA public key ({e})"));
    let mut reader = SliceReader::new(der).map_err(bad)?;
    let (n, e) = reader
        .sequence(|r| {
            let n = UintRef::decode(r)?;
            let e = UintRef::decode(r)?;
            Ok((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
        })
        .map_err(bad)?;
    reader.finish().map_err(bad)?;
    Ok((n, e))
}

fn ec_curve(parameters: Option<ObjectIdentifier>) -> Result<Curve> {
    match parameters {
        Some(oid) if oid == P256 => Ok(Curve::P256),
        Some(oid) if oid == P384 => Ok(Curve::P384),
        Some(oid) => Err(Error::bad_key(format!(
            "EC curve {} is not supported; use P-256 (ES256) or P-384 (ES384)",
            curve_name(oid)
        ))),
        None => Err(Error::bad_key(
            "the EC key names no curve; use a named P-256 or P-384 curve",
        )),
    }
}

fn curve_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.3.132.0.35" => "P-521".into(),
        "1.3.132.0.10" => "secp256k1".into(),
        other => format!("with OID {other}"),
    }
}

fn unsupported(oid: ObjectIdentifier) -> Error {
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.1.1.10" => "RSASSA-PSS (restricted RSA key)".to_string(),
        "1.3.101.113" => "Ed448".to_string(),
        "1.3.101.110" | "1.3.101.111" => "X25519/X448 (key agreement, not signatures)".to_string(),
        other => format!("with OID {other}"),
    };
    Error::bad_key(format!(
        "key type {name} is not supported; use an Ed25519, P-256, P-384 or RSA key"
    ))
}
