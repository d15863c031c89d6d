//! What a key file holds (`verify --key FILE`, `keys import FILE`, [`KeySet::from_file`]).
//!
//! Accepted, and told apart by their structure only:
//! - PEM anywhere in the file (RFC 7468 §2: a byte-order mark and explanatory text before, between
//!   or after blocks are fine) with exactly one key-bearing block: `PUBLIC KEY` (SPKI),
//!   `PRIVATE KEY` (PKCS#8; its public half is used) or `CERTIFICATE` (its SPKI; validity and
//!   signature are not looked at);
//! - the same three structures in DER;
//! - a JWK, or a JWK Set (RFC 7517), with or without a byte-order mark.
//!
//! A single `oct` JWK is the one form of secret a key file can hold: it declares itself a secret.
//! Nothing else is ever taken as an HMAC secret, and in particular not a file that failed to parse
//! as something else: anyone holding a public key file could sign tokens with its bytes. Raw
//! secret bytes come only through [`KeySet::from_secret`] (`verify --secret FILE`).
//!
//! In a JWK Set, a member with a private or secret part (`d`, `k`, `p`, `q`, `dp`, `dq`, `qi`,
//! `oth`) refuses the whole set: a published set has leaked a secret. A member tollgate cannot
//! use for verification (an encryption key, an unsupported key type or curve, a weak RSA key, a
//! malformed member) is skipped, logged without key material, and counted; a set with no usable
//! key is refused.
//!
//! Every key must also meet the rules of [`strength`](super::strength) (HMAC secret length, RSA
//! size, exponent and ROCA) and let itself verify by its `use` and `key_ops`.
//!
//! [`KeySet::from_file`]: crate::KeySet::from_file
//! [`KeySet::from_secret`]: crate::KeySet::from_secret

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::alg::Algorithm;
use crate::error::{Error, Result, quoted};
use crate::json::parse_object;
use crate::keys::asn1::{self, DerKind};
use crate::keys::jwks::Jwk;
use crate::keys::material::{PublicKey, Secret};
use crate::keys::strength;
use crate::keys::usage::{Operation, Usage};

/// The forms a key file may take, for messages.
pub(crate) const FORMS: &str = "a PEM or DER public key (SPKI), private key (PKCS#8) or \
    certificate (X.509), a JWK, a JWK Set, or a single oct JWK for an HMAC secret";

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The JWK members that hold private or secret material (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "k", "p", "q", "dp", "dq", "qi", "oth"];

/// The key material of one key in a file.
pub(crate) enum Material {
    /// A public key (of a private key file: its public half).
    Public(PublicKey),
    /// The secret of a single `oct` JWK.
    Secret(Zeroizing<Vec<u8>>),
}

/// One usable key of a key file.
pub(crate) struct FileKey {
    /// The JWK's `kid`, if any.
    pub(crate) kid: Option<String>,
    /// Its `use`, `key_ops` and `alg` (unrestricted for PEM and DER keys).
    pub(crate) usage: Usage,
    /// The key.
    pub(crate) material: Material,
    /// Whether the file held private material for it (PKCS#8, a JWK with `d`, an `oct` JWK).
    pub(crate) private: bool,
}

impl FileKey {
    /// The algorithms the key may verify: those of its type (for EC, its curve), narrowed by
    /// its `alg`.
    pub(crate) fn algorithms(&self) -> Vec<Algorithm> {
        let by_type: Vec<Algorithm> = match &self.material {
            Material::Public(public) => Algorithm::ALL
                .into_iter()
                .filter(|a| public.allows(*a))
                .collect(),
            Material::Secret(secret) => strength::hmac_algorithms(secret.len()),
        };
        self.usage.narrow(by_type)
    }

    fn checked(self) -> Result<FileKey> {
        self.usage.allow(Operation::Verify)?;
        if let Material::Secret(secret) = &self.material {
            strength::check_hmac(secret.len(), self.usage.alg())?;
        }
        if let Some(alg) = self.usage.alg()
            && self.algorithms().is_empty()
        {
            let what = match &self.material {
                Material::Public(p) => format!("{:?}", p.family()),
                Material::Secret(_) => "oct".into(),
            };
            return Err(Error::bad_key(format!(
                "the JWK names alg {alg}, which a {what} key cannot use; fix its \"alg\""
            )));
        }
        Ok(self)
    }
}

/// The usable keys of a key file, and why any others were skipped.
pub(crate) struct KeyFile {
    /// The keys, in file order.
    pub(crate) keys: Vec<FileKey>,
    /// One reason per skipped JWK Set member (no key material in them).
    pub(crate) skipped: Vec<String>,
}

impl KeyFile {
    /// Parses a key file's contents. `source` names it in logs (`key file ./k.pem`).
    ///
    /// # Errors
    ///
    /// `bad_key` saying what is wrong and what is accepted.
    pub(crate) fn parse(bytes: &[u8], source: &str) -> Result<KeyFile> {
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        match Form::of(bytes) {
            Some(Form::Pem) => Ok(KeyFile::one(pem_key(bytes)?)),
            Some(Form::Json) => json_file(bytes, source),
            Some(Form::Der(kind)) => Ok(KeyFile::one(der_key(bytes, kind)?)),
            None => Err(Error::bad_key(format!(
                "not a key file; accepted are {FORMS} (raw HMAC secret bytes go in --secret FILE)"
            ))),
        }
    }

    /// Parses a published JWK Set (a remote issuer's): a JSON object with a `keys` array and
    /// nothing else is accepted, so neither a lone `oct` JWK (a secret) nor PEM or DER is.
    ///
    /// # Errors
    ///
    /// `bad_key` saying what is wrong.
    #[cfg(feature = "remote")]
    pub(crate) fn parse_jwk_set(bytes: &[u8], source: &str) -> Result<KeyFile> {
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        let object =
            parse_object(bytes).map_err(|e| Error::bad_key(format!("not a JWK Set ({e})")))?;
        match object.get("keys") {
            Some(Value::Array(members)) => jwk_set(members, source),
            Some(_) => Err(Error::bad_key(
                "not a JWK Set: its \"keys\" member is not an array",
            )),
            None => Err(Error::bad_key(
                "not a JWK Set: no \"keys\" member (a published key set is {\"keys\": [...]})",
            )),
        }
    }

    /// Whether `bytes` have the shape of a key file (PEM, JSON, or one of the DER structures),
    /// whether or not they parse: such bytes are never taken as a raw secret.
    pub(crate) fn is_recognised(bytes: &[u8]) -> bool {
        Form::of(bytes.strip_prefix(BOM).unwrap_or(bytes)).is_some()
    }

    fn one(key: FileKey) -> KeyFile {
        KeyFile {
            keys: vec![key],
            skipped: Vec::new(),
        }
    }
}

enum Form {
    Pem,
    Json,
    Der(DerKind),
}

impl Form {
    fn of(bytes: &[u8]) -> Option<Form> {
        if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            return Some(Form::Pem);
        }
        if bytes.trim_ascii_start().starts_with(b"{") {
            return Some(Form::Json);
        }
        DerKind::of(bytes).map(Form::Der)
    }
}

fn public(key: PublicKey, private: bool) -> FileKey {
    FileKey {
        kid: None,
        usage: Usage::any(),
        material: Material::Public(key),
        private,
    }
}

fn der_key(der: &[u8], kind: DerKind) -> Result<FileKey> {
    match kind {
        DerKind::Spki => Ok(public(PublicKey::from_spki_der(der)?, false)),
        DerKind::Certificate => Ok(public(
            PublicKey::from_spki_der(&asn1::certificate_spki(der)?)?,
            false,
        )),
        DerKind::Pkcs8 => {
            let alg = asn1::pkcs8_algorithm(der)?;
            let secret = Secret::Pkcs8(Zeroizing::new(der.to_vec()));
            let key = secret
                .public_key(alg)?
                .ok_or_else(|| Error::bad_key("the PKCS#8 key has no public half"))?;
            Ok(public(key, true))
        }
    }
}

fn pem_key(bytes: &[u8]) -> Result<FileKey> {
    let blocks =
        pem::parse_many(bytes).map_err(|e| Error::bad_key(format!("unreadable PEM ({e})")))?;
    let mut found = Vec::new();
    for block in blocks {
        let kind = match block.tag() {
            "PUBLIC KEY" => DerKind::Spki,
            "PRIVATE KEY" => DerKind::Pkcs8,
            "CERTIFICATE" => DerKind::Certificate,
            other => return Err(unsupported_label(other)),
        };
        found.push((kind, Zeroizing::new(block.into_contents())));
    }
    match found.as_slice() {
        [(kind, der)] => der_key(der, *kind)
            .map_err(|e| Error::bad_key(format!("PEM {} block: {}", label(*kind), e.message()))),
        [] => Err(Error::bad_key(
            "no complete PEM block (-----BEGIN …----- to -----END …-----)",
        )),
        many => Err(Error::bad_key(format!(
            "{} key-bearing PEM blocks; a key file holds exactly one (put each key in its own \
             file, or list them in a JWK Set)",
            many.len()
        ))),
    }
}

fn label(kind: DerKind) -> &'static str {
    match kind {
        DerKind::Spki => "PUBLIC KEY",
        DerKind::Pkcs8 => "PRIVATE KEY",
        DerKind::Certificate => "CERTIFICATE",
    }
}

fn unsupported_label(tag: &str) -> Error {
    let fix = match tag {
        "RSA PUBLIC KEY" => "convert it with `openssl rsa -RSAPublicKey_in -in FILE -pubout`",
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
            "give its public key instead: `openssl pkey -in FILE -pubout`"
        }
        _ => "use a PUBLIC KEY, PRIVATE KEY or CERTIFICATE block",
    };
    Error::bad_key(format!("PEM block {} is not supported; {fix}", quoted(tag)))
}

fn json_file(bytes: &[u8], source: &str) -> Result<KeyFile> {
    let object =
        parse_object(bytes).map_err(|e| Error::bad_key(format!("not a JWK or JWK Set ({e})")))?;
    match object.get("keys") {
        Some(Value::Array(members)) => jwk_set(members, source),
        Some(_) => Err(Error::bad_key(
            "not a JWK Set: its \"keys\" member is not an array",
        )),
        None => {
            let jwk = jwk_from(object)?;
            Ok(KeyFile::one(jwk_key(&jwk)?))
        }
    }
}

fn jwk_from(object: Map<String, Value>) -> Result<Jwk> {
    serde_json::from_value(Value::Object(object))
        .map_err(|e| Error::bad_key(format!("not a JWK ({e})")))
}

fn jwk_set(members: &[Value], source: &str) -> Result<KeyFile> {
    // A private part anywhere refuses the set, before any member is looked at for other reasons.
    for (i, member) in members.iter().enumerate() {
        let object = member.as_object();
        if let Some(name) = PRIVATE_MEMBERS.iter().find(|m| {
            object
                .and_then(|o| o.get(**m))
                .is_some_and(|v| !v.is_null())
        }) {
            return Err(Error::bad_key(format!(
                "JWK Set member {i}{} carries the private member \"{name}\"; a published set \
                 holds public keys only. The key has leaked: remove it and rotate it",
                kid_of(member)
            )));
        }
    }
    let mut file = KeyFile {
        keys: Vec::new(),
        skipped: Vec::new(),
    };
    for (i, member) in members.iter().enumerate() {
        let key = match member {
            Value::Object(o) => jwk_from(o.clone()).and_then(|jwk| jwk_key(&jwk)),
            _ => Err(Error::bad_key("not a JSON object")),
        };
        match key {
            Ok(key) => file.keys.push(key),
            Err(e) => {
                let reason = format!(
                    "JWK Set member {i}{} skipped: {}",
                    kid_of(member),
                    e.message()
                );
                tracing::warn!(source, member = i, reason = %reason, "JWK Set member skipped");
                file.skipped.push(reason);
            }
        }
    }
    if file.keys.is_empty() {
        return Err(Error::bad_key(format!(
            "the JWK Set has no usable key{}",
            if file.skipped.is_empty() {
                String::new()
            } else {
                format!(" ({})", file.skipped.join("; "))
            }
        )));
    }
    Ok(file)
}

fn kid_of(member: &Value) -> String {
    member
        .get("kid")
        .and_then(Value::as_str)
        .map(|k| format!(" (kid {})", quoted(k)))
        .unwrap_or_default()
}

/// One JWK as a key: an `oct` JWK is a secret; any other is a public key (with `d`, its public
/// half).
fn jwk_key(jwk: &Jwk) -> Result<FileKey> {
    let usage = Usage::of_jwk(jwk)?;
    let key = if jwk.kty == "oct" {
        let secret = jwk.secret().ok_or_else(|| {
            Error::bad_key("the oct JWK has no usable \"k\" (base64url, not empty)")
        })?;
        FileKey {
            kid: jwk.kid.clone(),
            usage,
            material: Material::Secret(secret),
            private: true,
        }
    } else {
        FileKey {
            kid: jwk.kid.clone(),
            usage,
            material: Material::Public(jwk.public_key()?),
            private: jwk.private_member().is_some(),
        }
    };
    key.checked()
}
