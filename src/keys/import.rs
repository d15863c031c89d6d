//! Parsing `keys import` input: the key-file forms of [`KeyFile`] holding public keys only.

use crate::alg::Algorithm;
use crate::error::{Error, Result};
use crate::keys::entry::KeyEntry;
use crate::keys::file::{KeyFile, Material};
use crate::keys::material::PublicKey;

/// One public key to import, with the alg and kid its input named (if any).
pub(super) struct ImportedKey {
    pub(super) alg: Option<Algorithm>,
    pub(super) kid: Option<String>,
    pub(super) public: PublicKey,
}

/// What [`Keyring::import`](crate::Keyring::import) added, and which JWK Set members it skipped.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Imported {
    /// The keys added, as `verify` keys.
    pub entries: Vec<KeyEntry>,
    /// Why each skipped member was skipped (no key material in these).
    pub skipped: Vec<String>,
}

/// Parses the input; private material is refused.
pub(super) fn parse(bytes: &[u8]) -> Result<(Vec<ImportedKey>, Vec<String>)> {
    let file = KeyFile::parse(bytes, "keys import input")?;
    let keys = file
        .keys
        .into_iter()
        .map(|key| match key.material {
            Material::Public(public) if !key.private => Ok(ImportedKey {
                alg: key.usage.alg(),
                kid: key.kid,
                public,
            }),
            _ => Err(Error::usage(
                "import takes public keys only, and this input holds private or secret material; \
                 import the public key (`tollgate keys export KID` on the issuer, or \
                 `openssl pkey -in FILE -pubout`)",
            )),
        })
        .collect::<Result<_>>()?;
    Ok((keys, file.skipped))
}
