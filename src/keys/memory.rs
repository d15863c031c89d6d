//! A keyring that lives in memory only ([`Keyring::generate_in_memory`]): one fresh key, never
//! written anywhere, gone with the process.

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::material;
use super::{KeyEntry, KeySet, KeyState, Keyring, Manifest, Signer, own_key, thumbprint};
use crate::alg::Algorithm;
use crate::clock::Clock;
use crate::error::{Error, Result};

/// What [`Keyring::dir`] answers for an in-memory keyring: no directory.
const IN_MEMORY: &str = "(in memory)";

impl Keyring {
    /// A keyring in memory only, with one fresh `alg` key that signs (active). Nothing is ever
    /// written to disk: the private key, and the session key that tags refresh tokens, exist
    /// in this process and nowhere else, so every token it signs stops verifying anywhere once
    /// the process exits. For demos and tests that must not touch a real keyring.
    ///
    /// It cannot be changed ([`Keyring::generate`], [`rotate`](Keyring::rotate) and the other
    /// changes answer `usage`), its private key cannot be exported, and
    /// [`dir`](Keyring::dir) names no directory ([`is_in_memory`](Keyring::is_in_memory) is
    /// true); its JWK Set publishes the public key as usual.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) when the system's random source fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate::{Algorithm, Clock, Keyring, MintOptions, VerifyOptions};
    /// let clock = Clock::fixed(1_800_000_000);
    /// let keyring = Keyring::generate_in_memory(Algorithm::EdDSA, &clock)?;
    /// assert!(keyring.is_in_memory());
    /// assert_eq!(keyring.entries().len(), 1);
    /// let minted = tollgate::mint(&keyring, &MintOptions::new("alice"), &clock)?;
    /// tollgate::verify::<serde_json::Value>(&minted.token, keyring.key_set(), &VerifyOptions::new(), &clock)?;
    /// assert_eq!(keyring.jwks().keys.len(), 1);
    /// # Ok::<(), tollgate::Error>(())
    /// ```
    pub fn generate_in_memory(alg: Algorithm, clock: &Clock) -> Result<Keyring> {
        let secret = material::generate(alg)?;
        let kid = match secret.public_key(alg)? {
            Some(public) => thumbprint(&public),
            // A symmetric key's thumbprint would publish a hash of the secret: a random kid.
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        let now = clock.now();
        let entry = KeyEntry {
            kid: kid.clone(),
            alg,
            state: KeyState::Active,
            file: String::new(),
            private: true,
            created: now,
            activated: Some(now),
            deactivated: None,
            deactivated_max_ttl: None,
            retired: None,
            issuer: None,
        };
        let manifest = Manifest {
            keys: vec![entry],
            ..Manifest::default()
        };
        manifest.validate()?;
        let mut set = KeySet::new();
        set.push(own_key(&manifest.keys[0], &secret, manifest.max_ttl)?);
        let signer = Signer {
            kid,
            alg,
            key: secret.encoding_key(alg)?,
        };
        let session_key = std::sync::OnceLock::new();
        let _ = session_key.set(random_session_key()?);
        Ok(Keyring {
            dir: PathBuf::from(IN_MEMORY),
            manifest,
            set,
            signer: Some(signer),
            session_key,
            in_memory: true,
        })
    }
}

fn random_session_key() -> Result<Zeroizing<[u8; 32]>> {
    let mut key = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), key.as_mut())
        .map_err(|_| Error::bad_key("the system random number generator failed"))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn an_in_memory_keyring_signs_refuses_changes_and_exports_no_secret() {
        let clock = Clock::fixed(1_800_000_000);
        let mut keyring = Keyring::generate_in_memory(Algorithm::EdDSA, &clock).unwrap();
        let kid = keyring.active().unwrap().kid.clone();
        assert!(keyring.is_in_memory());
        assert!(!keyring.dir().exists(), "names no directory");
        assert!(keyring.session_key().is_ok());
        assert!(keyring.public_key(&kid).is_ok());
        assert!(keyring.export(&kid, false, None).is_ok());
        let err = keyring.export(&kid, true, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        let err = keyring.rotate(None, false, &clock).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.message().contains("in-memory"), "{}", err.message());
        // Two in-memory keyrings share nothing.
        let other = Keyring::generate_in_memory(Algorithm::EdDSA, &clock).unwrap();
        assert_ne!(other.active().unwrap().kid, kid);
        assert_ne!(
            *other.session_key().unwrap(),
            *keyring.session_key().unwrap()
        );
    }
}
