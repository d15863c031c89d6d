//! [`KeySet`]: the verifying keys a token is checked against, from a keyring or from files
//! given on the command line (`verify --key FILE`).

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::DecodingKey;
use zeroize::Zeroizing;

use crate::alg::{Algorithm, Family};
use crate::error::{Error, Result, quoted};
use crate::keys::entry::KeyState;
use crate::keys::jwks::{Jwk, JwkSet};
use crate::keys::material::{PublicKey, Secret};

/// One key that can verify signatures, with the algorithms it accepts.
pub struct VerifyingKey {
    pub(crate) kid: Option<String>,
    pub(crate) state: KeyState,
    pub(crate) algs: Vec<Algorithm>,
    pub(crate) key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("state", &self.state)
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
        }
    }
}

/// A set of verifying keys, found by `kid`.
///
/// A keyring's set holds every key, retired ones included (so that a token signed by a retired
/// key is reported as `retired_kid`, not `unknown_kid`).
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
    by_kid: HashMap<String, usize>,
    explicit: bool,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        KeySet::default()
    }

    /// Adds a key; a later key with the same kid replaces the earlier one in lookups.
    pub fn push(&mut self, key: VerifyingKey) {
        if let Some(kid) = &key.kid {
            self.by_kid.insert(kid.clone(), self.keys.len());
        }
        self.keys.push(key);
    }

    /// Adds every key of `other`.
    pub fn extend(&mut self, other: KeySet) {
        self.explicit |= other.explicit;
        for key in other.keys {
            self.push(key);
        }
    }

    /// The key with this kid.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.by_kid.get(kid).map(|i| &self.keys[*i])
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

    /// Reads verifying keys from a file: an SPKI `PUBLIC KEY` PEM, a PKCS#8 `PRIVATE KEY` PEM
    /// (its public half is used), a JWK, a JWK Set, or any other content as an HMAC secret.
    ///
    /// The algorithms each key accepts come from the key itself: its JWK `alg`, else every
    /// algorithm of its type (for EC, of its curve), narrowed by `allow` when it is not empty.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) naming the file when it cannot be read
    /// or parsed.
    pub fn from_file(path: &Path, allow: &[Algorithm]) -> Result<KeySet> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
            Error::bad_key(format!("cannot read key file {}: {e}", path.display())).with_source(e)
        })?);
        KeySet::from_bytes(&bytes, allow)
            .map_err(|e| Error::bad_key(format!("key file {}: {}", path.display(), e.message())))
    }

    /// Like [`KeySet::from_file`], from the file's contents.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) when the contents cannot be parsed.
    pub fn from_bytes(bytes: &[u8], allow: &[Algorithm]) -> Result<KeySet> {
        let mut set = KeySet {
            explicit: true,
            ..KeySet::new()
        };
        let narrow = |algs: Vec<Algorithm>| -> Vec<Algorithm> {
            algs.into_iter()
                .filter(|a| allow.is_empty() || allow.contains(a))
                .collect()
        };
        let text = std::str::from_utf8(bytes).ok().map(str::trim_start);
        if let Some(text) = text.filter(|t| t.starts_with("-----BEGIN")) {
            let block = pem::parse(text).map_err(|e| Error::bad_key(format!("bad PEM ({e})")))?;
            let public = match block.tag() {
                "PUBLIC KEY" => PublicKey::from_spki_der(block.contents())?,
                "PRIVATE KEY" => {
                    let secret = Secret::Pkcs8(Zeroizing::new(block.contents().to_vec()));
                    [
                        Algorithm::EdDSA,
                        Algorithm::ES256,
                        Algorithm::ES384,
                        Algorithm::RS256,
                    ]
                    .into_iter()
                    .find_map(|a| secret.public_key(a).ok().flatten())
                    .ok_or_else(|| Error::bad_key("unsupported PKCS#8 private key"))?
                }
                tag => {
                    return Err(Error::bad_key(format!(
                        "unsupported PEM block {tag:?}; use PUBLIC KEY (SPKI) or PRIVATE KEY (PKCS#8)"
                    )));
                }
            };
            let algs = narrow(default_algs(&public));
            set.push(VerifyingKey::from_public(
                None,
                KeyState::Verify,
                algs,
                &public,
            ));
            return Ok(set);
        }
        if let Some(text) = text.filter(|t| t.starts_with('{')) {
            let jwks = JwkSet::parse_keys(text)?;
            for jwk in jwks {
                set.push(key_from_jwk(&jwk, &narrow)?);
            }
            return Ok(set);
        }
        // Anything else is a shared secret, used as the raw bytes of the file.
        let key =
            DecodingKey::from_secret(bytes).map_err(|_| Error::bad_key("empty secret file"))?;
        let algs = narrow(Algorithm::of_family(Family::Hmac).collect());
        set.push(VerifyingKey {
            kid: None,
            state: KeyState::Verify,
            algs,
            key,
        });
        Ok(set)
    }
}

fn key_from_jwk(
    jwk: &Jwk,
    narrow: &dyn Fn(Vec<Algorithm>) -> Vec<Algorithm>,
) -> Result<VerifyingKey> {
    let named = jwk.algorithm()?;
    if let Some(secret) = jwk.secret() {
        let key = DecodingKey::from_secret(&secret).map_err(|_| Error::bad_key("empty secret"))?;
        let algs = match named {
            Some(a) if a.is_symmetric() => vec![a],
            Some(a) => return Err(Error::bad_key(format!("oct JWK cannot use alg {a}"))),
            None => Algorithm::of_family(Family::Hmac).collect(),
        };
        return Ok(VerifyingKey {
            kid: jwk.kid.clone(),
            state: KeyState::Verify,
            algs: narrow(algs),
            key,
        });
    }
    let public = jwk.public_key()?;
    let algs = match named {
        Some(a) if public.allows(a) => vec![a],
        Some(a) => {
            return Err(Error::bad_key(format!(
                "JWK {} names alg {a}, which its key type cannot use",
                quoted(jwk.kid.as_deref().unwrap_or("(no kid)"))
            )));
        }
        None => default_algs(&public),
    };
    Ok(VerifyingKey::from_public(
        jwk.kid.clone(),
        KeyState::Verify,
        narrow(algs),
        &public,
    ))
}

fn default_algs(public: &PublicKey) -> Vec<Algorithm> {
    Algorithm::ALL
        .into_iter()
        .filter(|a| public.allows(*a))
        .collect()
}
