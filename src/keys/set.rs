//! [`KeySet`]: the verifying keys a token is checked against, from a keyring, from key files
//! given on the command line (`verify --key FILE`), or from raw secrets (`verify --secret FILE`).

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::DecodingKey;
use zeroize::Zeroizing;

use crate::alg::Algorithm;
use crate::error::{Error, Result};
use crate::keys::entry::KeyState;
use crate::keys::file::{FileKey, KeyFile, Material};
use crate::keys::jwks::thumbprint;
use crate::keys::material::PublicKey;
use crate::keys::namespace::{LifetimeBound, Namespace};
use crate::keys::strength;

/// One key that can verify signatures, with the algorithms it accepts.
#[derive(Clone)]
pub struct VerifyingKey {
    pub(crate) kid: Option<String>,
    pub(crate) state: KeyState,
    pub(crate) algs: Vec<Algorithm>,
    pub(crate) key: DecodingKey,
    pub(crate) public: Option<PublicKey>,
    pub(crate) namespace: Namespace,
    pub(crate) lifetime: LifetimeBound,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("state", &self.state)
            .field("namespace", &self.namespace)
            .field("lifetime", &self.lifetime)
            .field("algs", &self.algs)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// The key id, if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key's life-cycle state (keys from files are `verify`).
    pub fn state(&self) -> KeyState {
        self.state
    }

    /// The algorithms this key accepts; a token's `alg` must be one of them.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algs
    }

    /// The public key of an asymmetric key (`None` for an HMAC secret).
    pub fn public_key(&self) -> Option<&PublicKey> {
        self.public.as_ref()
    }

    pub(crate) fn from_public(
        kid: Option<String>,
        state: KeyState,
        algs: Vec<Algorithm>,
        public: &PublicKey,
    ) -> Self {
        VerifyingKey {
            kid,
            state,
            algs,
            key: public.decoding_key(),
            namespace: Namespace::Key(thumbprint(public)),
            lifetime: LifetimeBound::issuer(),
            public: Some(public.clone()),
        }
    }

    /// An HMAC key; `None` for an empty secret.
    pub(crate) fn from_secret(
        kid: Option<String>,
        state: KeyState,
        algs: Vec<Algorithm>,
        secret: &[u8],
    ) -> Option<Self> {
        // Namespaced by a digest of the secret, never by the secret itself.
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret);
        let label = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            digest.as_ref(),
        );
        Some(VerifyingKey {
            kid,
            state,
            algs,
            key: DecodingKey::from_secret(secret).ok()?,
            public: None,
            namespace: Namespace::Key(format!("oct:{label}")),
            lifetime: LifetimeBound::issuer(),
        })
    }

    /// The namespace of the ids its tokens carry: [`Namespace::Own`] for a key generated in
    /// the keyring, the key's own otherwise.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// How long its tokens may live.
    pub fn lifetime(&self) -> LifetimeBound {
        self.lifetime
    }

    /// Sets where the key came from: its namespace and the lifetime bound of its tokens.
    pub(crate) fn with_origin(mut self, namespace: Namespace, lifetime: LifetimeBound) -> Self {
        self.namespace = namespace;
        self.lifetime = lifetime;
        self
    }

    fn from_file_key(key: FileKey, algs: Vec<Algorithm>) -> Result<Self> {
        match &key.material {
            Material::Public(public) => Ok(VerifyingKey::from_public(
                key.kid,
                KeyState::Verify,
                algs,
                public,
            )),
            Material::Secret(secret) => {
                VerifyingKey::from_secret(key.kid, KeyState::Verify, algs, secret)
                    .ok_or_else(|| Error::bad_key("empty secret"))
            }
        }
    }
}

/// A set of verifying keys, found by `kid`.
///
/// A keyring's set holds every key, retired ones included (so that a token signed by a retired
/// key is reported as `retired_kid`, not `unknown_kid`).
///
/// A kid that two keys of a set carry picks neither: a token naming it is `unknown_kid`, so a
/// key added to a set with a colliding kid can never be chosen in place of the genuine one. The
/// other keys of the set stay usable.
///
/// # Examples
///
/// ```
/// use tollgate::{Algorithm, KeySet};
/// let set = KeySet::from_bytes(br#"{"keys": [
///   {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///   {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///   {"kty": "OKP", "crv": "Ed25519", "kid": "b", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///   {"kty": "EC", "crv": "P-521", "kid": "c", "x": "AQ", "y": "AQ"}
/// ]}"#, &[])?;
/// assert!(set.get("a").is_none() && set.is_ambiguous("a"));
/// assert_eq!(set.get("b").unwrap().algorithms(), &[Algorithm::EdDSA]);
/// assert_eq!(set.skipped(), 1); // P-521 is not supported
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
    by_kid: HashMap<String, Slot>,
    explicit: bool,
    skipped: Vec<String>,
}

/// Where a kid leads: one key, or several (then none is used).
#[derive(Debug, Clone, Copy)]
enum Slot {
    One(usize),
    Ambiguous,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        KeySet::default()
    }

    /// Adds a key. A kid another key of the set already carries becomes ambiguous: it then
    /// picks neither key (see [`KeySet::is_ambiguous`]).
    pub fn push(&mut self, key: VerifyingKey) {
        if let Some(kid) = &key.kid {
            let index = self.keys.len();
            self.by_kid
                .entry(kid.clone())
                .and_modify(|slot| {
                    tracing::warn!(kid = %kid, "two keys carry one kid; it picks neither");
                    *slot = Slot::Ambiguous;
                })
                .or_insert(Slot::One(index));
        }
        self.keys.push(key);
    }

    /// Adds every key of `other` (kids both sets carry become ambiguous).
    pub fn extend(&mut self, other: KeySet) {
        self.explicit |= other.explicit;
        self.skipped.extend(other.skipped);
        for key in other.keys {
            self.push(key);
        }
    }

    /// The one key with this kid (`None` also when several keys carry it).
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        match self.by_kid.get(kid) {
            Some(Slot::One(i)) => self.keys.get(*i),
            _ => None,
        }
    }

    /// Whether several keys of the set carry this kid, so that it picks none of them.
    pub fn is_ambiguous(&self, kid: &str) -> bool {
        matches!(self.by_kid.get(kid), Some(Slot::Ambiguous))
    }

    /// Whether the keys were given explicitly (`verify --key`): then a token without a kid, or
    /// whose kid no key carries, is tried against the keys without a kid.
    pub fn is_explicit(&self) -> bool {
        self.explicit
    }

    /// Every key.
    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter()
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many JWK Set members were skipped when the set was read (unsupported key types or
    /// curves, encryption keys, weak keys, malformed members).
    pub fn skipped(&self) -> usize {
        self.skipped.len()
    }

    /// Why each skipped member was skipped: its index and kid and the rule, never key material.
    pub fn skip_reasons(&self) -> impl Iterator<Item = &str> {
        self.skipped.iter().map(String::as_str)
    }

    /// Reads verifying keys from a key file: PEM (anywhere in the file, RFC 7468) or DER of an
    /// SPKI public key, a PKCS#8 private key (its public half is used) or an X.509 certificate
    /// (its key; validity is not checked), a JWK, a JWK Set, or a single `oct` JWK (an HMAC
    /// secret that declares itself one). A byte-order mark is fine. Nothing else is taken as a
    /// secret: raw secret bytes go through [`KeySet::from_secret_file`].
    ///
    /// The algorithms each key accepts come from the key itself: its JWK `alg`, else every
    /// algorithm of its type (for EC, of its curve), narrowed by `allow` when it is not empty.
    /// JWK `use` and `key_ops` must allow verification. JWK Set members that cannot be used are
    /// skipped and counted ([`KeySet::skipped`]); a member with a private part refuses the set.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) naming the file, what is wrong and the
    /// accepted forms, when it cannot be read, parsed or used.
    pub fn from_file(path: &Path, allow: &[Algorithm]) -> Result<KeySet> {
        let bytes = read(path, "key file")?;
        let source = format!("key file {}", path.display());
        KeySet::parse(&bytes, allow, &source)
            .map_err(|e| Error::bad_key(format!("{source}: {}", e.message())))
    }

    /// Like [`KeySet::from_file`], from the file's contents.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) when the contents cannot be parsed or used.
    pub fn from_bytes(bytes: &[u8], allow: &[Algorithm]) -> Result<KeySet> {
        KeySet::parse(bytes, allow, "key input")
    }

    /// Reads a raw HMAC secret: the file's bytes exactly (a trailing newline is part of the
    /// secret). See [`KeySet::from_secret`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) naming the file when it cannot be read or
    /// is not a usable secret.
    pub fn from_secret_file(path: &Path, allow: &[Algorithm]) -> Result<KeySet> {
        let bytes = read(path, "secret file")?;
        KeySet::from_secret(&bytes, allow)
            .map_err(|e| Error::bad_key(format!("secret file {}: {}", path.display(), e.message())))
    }

    /// A set of one HMAC key from raw secret bytes, for the HS algorithms whose hash is no longer
    /// than the secret (RFC 7518 §3.2: HS256 from 32 bytes, HS384 from 48, HS512 from 64),
    /// narrowed by `allow`.
    ///
    /// Bytes shaped like a key file (PEM, JSON, or DER key structures) are refused: a public key
    /// is never a secret.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) for a secret shorter than 32 bytes or
    /// key-file content.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate::{Algorithm, KeySet};
    /// let set = KeySet::from_secret(&[7u8; 32], &[])?;
    /// let key = set.iter().next().unwrap();
    /// assert_eq!(key.algorithms(), &[Algorithm::HS256]);
    /// assert!(KeySet::from_secret(&[7u8; 31], &[]).is_err());
    /// assert!(KeySet::from_secret(b"-----BEGIN PUBLIC KEY-----", &[]).is_err());
    /// # Ok::<(), tollgate::Error>(())
    /// ```
    pub fn from_secret(secret: &[u8], allow: &[Algorithm]) -> Result<KeySet> {
        if KeyFile::is_recognised(secret) {
            return Err(Error::bad_key(
                "holds a key file (PEM, JSON or DER), not raw secret bytes; a key file is never \
                 a secret: pass it with --key FILE",
            ));
        }
        strength::check_hmac(secret.len(), None)?;
        let algs = narrow(strength::hmac_algorithms(secret.len()), allow);
        let key = VerifyingKey::from_secret(None, KeyState::Verify, algs, secret)
            .ok_or_else(|| Error::bad_key("the secret is empty"))?;
        let mut set = KeySet {
            explicit: true,
            ..KeySet::new()
        };
        set.push(key);
        Ok(set)
    }

    fn parse(bytes: &[u8], allow: &[Algorithm], source: &str) -> Result<KeySet> {
        KeySet::from_key_file(KeyFile::parse(bytes, source)?, allow)
    }

    /// Reads a published JWK Set (only that form: see `KeyFile::parse_jwk_set`) by the rules
    /// of [`KeySet::from_file`]; `source` names it in logs.
    #[cfg(feature = "remote")]
    pub(crate) fn from_jwk_set(bytes: &[u8], source: &str) -> Result<KeySet> {
        KeySet::from_key_file(KeyFile::parse_jwk_set(bytes, source)?, &[])
    }

    fn from_key_file(file: KeyFile, allow: &[Algorithm]) -> Result<KeySet> {
        let mut set = KeySet {
            explicit: true,
            skipped: file.skipped,
            ..KeySet::new()
        };
        for key in file.keys {
            let algs = narrow(key.algorithms(), allow);
            set.push(VerifyingKey::from_file_key(key, algs)?);
        }
        Ok(set)
    }

    /// The set with each key replaced by `f(key)`, in the same order (so its kids still lead to
    /// the same keys): for setting each key's origin.
    #[cfg(feature = "remote")]
    pub(crate) fn map_keys(mut self, f: impl FnMut(VerifyingKey) -> VerifyingKey) -> KeySet {
        self.keys = self.keys.into_iter().map(f).collect();
        self
    }
}

fn narrow(algs: Vec<Algorithm>, allow: &[Algorithm]) -> Vec<Algorithm> {
    algs.into_iter()
        .filter(|a| allow.is_empty() || allow.contains(a))
        .collect()
}

fn read(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    std::fs::read(path).map(Zeroizing::new).map_err(|e| {
        Error::bad_key(format!("cannot read {what} {}: {e}", path.display())).with_source(e)
    })
}
