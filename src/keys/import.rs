//! Parsing `keys import` input: an SPKI PEM, a JWK or a JWK Set of public keys.

use crate::alg::Algorithm;
use crate::error::{Error, Result};
use crate::keys::jwks::JwkSet;
use crate::keys::material::PublicKey;

/// One public key to import, with the alg and kid its input named (if any).
pub(super) struct ImportedKey {
    pub(super) alg: Option<Algorithm>,
    pub(super) kid: Option<String>,
    pub(super) public: PublicKey,
}

/// Parses the input; private material is refused.
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<ImportedKey>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::bad_key("import input is not text (PEM or JSON)"))?
        .trim_start();
    if text.starts_with("-----BEGIN") {
        let block = pem::parse(text).map_err(|e| Error::bad_key(format!("bad PEM ({e})")))?;
        if block.tag() != "PUBLIC KEY" {
            return Err(Error::usage(format!(
                "import takes public keys (PEM \"PUBLIC KEY\"), not {:?}",
                block.tag()
            )));
        }
        return Ok(vec![ImportedKey {
            alg: None,
            kid: None,
            public: PublicKey::from_spki_der(block.contents())?,
        }]);
    }
    let jwks = JwkSet::parse_keys(text).map_err(|e| {
        Error::bad_key(format!(
            "import input is neither PEM nor JSON keys: {}",
            e.message()
        ))
    })?;
    jwks.into_iter()
        .map(|jwk| {
            if jwk.has_private_members() {
                return Err(Error::usage(
                    "import takes public keys only; this JWK has private members (d, k, p, …)",
                ));
            }
            Ok(ImportedKey {
                alg: jwk.algorithm()?,
                kid: jwk.kid.clone(),
                public: jwk.public_key()?,
            })
        })
        .collect()
}
