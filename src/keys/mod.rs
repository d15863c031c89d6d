//! The keyring: a directory with a manifest (`keyring.json`) and one key file per key.
//!
//! Private keys are PKCS#8 PEM files (HMAC secrets: `oct` JWK files), mode 0600, in a 0700
//! directory, written atomically under a lock file; loose permissions are refused. Imported public
//! keys are JWK files. See [`KeyState`] for the rotation timeline:
//!
//! ```text
//! keys rotate --stage   keys rotate          keys retire        keys prune
//!   next ──────────────▶ active ──rotate──▶ verify ──────────▶ retired ─────▶ (deleted)
//!   published            signs              verifies until      rejected
//!                                           deactivated+max_ttl
//! ```
//!
//! # Examples
//!
//! ```
//! use tollgate::{Algorithm, Clock, Keyring, KeyState};
//! let dir = tempfile::tempdir().unwrap();
//! let clock = Clock::fixed(1_800_000_000);
//! let mut keyring = Keyring::init(dir.path().join("keys"))?;
//! let first = keyring.generate(Algorithm::EdDSA, None, &clock)?;
//! assert_eq!(first.state, KeyState::Active);
//! let second = keyring.rotate(None, false, &clock)?;
//! assert_eq!(keyring.entry(&first.kid).unwrap().state, KeyState::Verify);
//! assert_eq!(keyring.active().unwrap().kid, second.kid);
//! # Ok::<(), tollgate::Error>(())
//! ```

mod asn1;
mod entry;
mod file;
mod fs;
#[cfg_attr(not(feature = "server"), allow(unused_imports))] // the server's files use them
pub(crate) use fs::{MAX_FILE_BYTES, read_regular};
mod import;
mod jwks;
mod lifecycle;
mod material;
mod memory;
mod namespace;
#[cfg(feature = "remote")]
mod remote;
mod roca;
mod session_key;
mod set;
mod strength;
mod usage;

use std::path::{Path, PathBuf};

use jsonwebtoken::EncodingKey;
use zeroize::Zeroizing;

pub use entry::{DEFAULT_MAX_TTL, KeyEntry, KeyState, Manifest, validate_kid};
pub use import::Imported;
pub use jwks::{Jwk, JwkSet, thumbprint};
pub use material::{Curve, PublicKey};
pub use namespace::{DEFAULT_ISSUER_MAX_LIFETIME, LifetimeBound, Namespace};
#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub use remote::{RemoteConfig, RemoteJwks, RemoteStatus};
pub use set::{KeySet, VerifyingKey};

use crate::alg::Algorithm;
use crate::error::{Error, Result, quoted};
use material::Secret;
use session_key::read_session_key;

/// The active key's signing material.
pub(crate) struct Signer {
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    pub(crate) key: EncodingKey,
}

/// Export formats for [`Keyring::export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A JSON Web Key.
    Jwk,
    /// PEM: SPKI for public keys, PKCS#8 for private keys.
    Pem,
}

/// A loaded keyring: the manifest plus parsed key material.
///
/// Reading needs no lock (files are replaced atomically and the manifest is written last);
/// every change takes the directory's lock, re-reads the manifest, applies the change, writes
/// it, and reloads.
pub struct Keyring {
    dir: PathBuf,
    manifest: Manifest,
    set: KeySet,
    signer: Option<Signer>,
    session_key: std::sync::OnceLock<Zeroizing<[u8; 32]>>,
    /// Made by [`Keyring::generate_in_memory`]: no directory, nothing on disk.
    in_memory: bool,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("dir", &self.dir)
            .field("keys", &self.manifest.keys)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Opens an existing keyring directory.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) when the directory does not exist, has
    /// loose permissions, or a key file is missing, loose or corrupt (the message names the file).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Keyring> {
        let dir = dir.into();
        fs::check_dir(&dir)?;
        let _shared = fs::Lock::shared(&dir);
        let manifest = read_manifest(&dir)?;
        Keyring::load(dir, manifest)
    }

    /// Opens a keyring, creating the directory (mode 0700) if it does not exist yet.
    ///
    /// # Errors
    ///
    /// As [`Keyring::open`].
    pub fn init(dir: impl Into<PathBuf>) -> Result<Keyring> {
        let dir = dir.into();
        fs::init_dir(&dir)?;
        Keyring::open(dir)
    }

    fn load(dir: PathBuf, manifest: Manifest) -> Result<Keyring> {
        manifest.validate()?;
        let mut set = KeySet::new();
        let mut signer = None;
        for entry in &manifest.keys {
            let path = dir.join(&entry.file);
            let bytes = Zeroizing::new(fs::read_key_file(&path)?);
            let named = |e: Error| {
                Error::bad_key(format!(
                    "key file {} (kid {}): {}",
                    path.display(),
                    entry.kid,
                    e.message()
                ))
            };
            if entry.private {
                let secret = Secret::parse(&bytes, entry.alg).map_err(named)?;
                set.push(own_key(entry, &secret, manifest.max_ttl).map_err(named)?);
                if entry.state == KeyState::Active {
                    let key = secret.encoding_key(entry.alg).map_err(named)?;
                    signer = Some(Signer {
                        kid: entry.kid.clone(),
                        alg: entry.alg,
                        key,
                    });
                }
            } else {
                let jwk: Jwk = serde_json::from_slice(&bytes)
                    .map_err(|e| named(Error::bad_key(format!("not a JWK ({e})"))))?;
                let public = jwk.public_key_for(entry.alg).map_err(named)?;
                // Imported: another issuer's key, in that issuer's namespace when it is bound to
                // one, else in its own (its thumbprint).
                let key = VerifyingKey::from_public(
                    Some(entry.kid.clone()),
                    entry.state,
                    vec![entry.alg],
                    &public,
                );
                set.push(match &entry.issuer {
                    Some(iss) => {
                        key.with_origin(Namespace::Issuer(iss.clone()), LifetimeBound::issuer())
                    }
                    None => key,
                });
            }
        }
        let session_key = std::sync::OnceLock::new();
        if let Some(key) = read_session_key(&dir)? {
            let _ = session_key.set(key);
        }
        Ok(Keyring {
            dir,
            manifest,
            set,
            signer,
            session_key,
            in_memory: false,
        })
    }

    /// The keyring directory. For a keyring made by [`Keyring::generate_in_memory`] this is
    /// the placeholder `(in memory)`, which names no directory: check
    /// [`is_in_memory`](Keyring::is_in_memory) before reading files there.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the keyring lives in memory only ([`Keyring::generate_in_memory`]): no
    /// directory, no file, nothing to reload.
    pub fn is_in_memory(&self) -> bool {
        self.in_memory
    }

    /// Every key's metadata, oldest first.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.manifest.keys
    }

    /// The metadata of the key with this kid.
    pub fn entry(&self, kid: &str) -> Option<&KeyEntry> {
        self.manifest.keys.iter().find(|k| k.kid == kid)
    }

    /// The active key's metadata.
    pub fn active(&self) -> Option<&KeyEntry> {
        self.manifest
            .keys
            .iter()
            .find(|k| k.state == KeyState::Active)
    }

    /// The longest token lifetime this keyring allows (seconds). Defaults to 24 hours.
    pub fn max_ttl(&self) -> i64 {
        self.manifest.max_ttl
    }

    /// The verifying keys (retired ones included, so they can be reported as retired).
    pub fn key_set(&self) -> &KeySet {
        &self.set
    }

    pub(crate) fn signer(&self, kid: Option<&str>) -> Result<&Signer> {
        let signer = self.signer.as_ref().ok_or_else(|| {
            Error::bad_key(format!(
                "keyring {} has no active key; run `tollgate keys generate` or `tollgate keys rotate`",
                self.dir.display()
            ))
        })?;
        match kid {
            Some(kid) if kid != signer.kid => {
                let state = self.entry(kid).map(|e| e.state);
                Err(Error::usage(match state {
                    None => format!(
                        "no key with kid {} in keyring {}",
                        quoted(kid),
                        self.dir.display()
                    ),
                    Some(state) => format!(
                        "key {kid} is {state} and does not sign; only the active key ({}) signs",
                        signer.kid
                    ),
                }))
            }
            _ => Ok(signer),
        }
    }

    /// The JWK Set of the `next`, `active` and `verify` public keys. Symmetric keys and private
    /// members are never included.
    pub fn jwks(&self) -> JwkSet {
        let keys = self
            .manifest
            .keys
            .iter()
            .filter(|e| e.state.is_published() && !e.alg.is_symmetric())
            .filter_map(|e| {
                self.public_key(&e.kid)
                    .ok()
                    .map(|p| p.to_jwk().with_identity(&e.kid, e.alg))
            })
            .collect();
        JwkSet { keys }
    }

    /// The public key of an asymmetric key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) for an unknown kid or a symmetric key.
    pub fn public_key(&self, kid: &str) -> Result<PublicKey> {
        let entry = self.entry_or_usage(kid)?;
        if entry.alg.is_symmetric() {
            return Err(Error::usage(format!(
                "key {kid} is a symmetric {} secret and has no public part; export it with --private",
                entry.alg
            )));
        }
        if self.in_memory {
            return self
                .set
                .get(kid)
                .and_then(|key| key.public_key().cloned())
                .ok_or_else(|| Error::bad_key(format!("no public key for kid {kid}")));
        }
        let bytes = Zeroizing::new(fs::read_key_file(&self.dir.join(&entry.file))?);
        if entry.private {
            Secret::parse(&bytes, entry.alg)?
                .public_key(entry.alg)?
                .ok_or_else(|| Error::bad_key("no public key"))
        } else {
            let jwk: Jwk = serde_json::from_slice(&bytes)
                .map_err(|e| Error::bad_key(format!("not a JWK ({e})")))?;
            jwk.public_key()
        }
    }

    fn entry_or_usage(&self, kid: &str) -> Result<&KeyEntry> {
        self.entry(kid).ok_or_else(|| {
            Error::usage(format!(
                "no key with kid {} in keyring {}; see `tollgate keys list`",
                quoted(kid),
                self.dir.display()
            ))
        })
    }

    /// Exports a key. Public by default; `private` exports the secret (PKCS#8 PEM, or a JWK for
    /// HMAC, Ed25519 and EC keys). The default format is JWK, except PEM for private asymmetric keys.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) for an unknown kid, a public export of a
    /// symmetric key, a private export of an imported public key, or a format that cannot hold
    /// the key.
    pub fn export(
        &self,
        kid: &str,
        private: bool,
        format: Option<ExportFormat>,
    ) -> Result<Zeroizing<String>> {
        let entry = self.entry_or_usage(kid)?;
        if !private {
            let public = self.public_key(kid)?;
            return Ok(Zeroizing::new(match format.unwrap_or(ExportFormat::Jwk) {
                ExportFormat::Jwk => pretty(&public.to_jwk().with_identity(kid, entry.alg)),
                ExportFormat::Pem => public.to_pem(),
            }));
        }
        if !entry.private {
            return Err(Error::usage(format!(
                "key {kid} was imported and has no private part"
            )));
        }
        if self.in_memory {
            return Err(Error::usage(format!(
                "key {kid} lives in an in-memory keyring and never leaves the process; \
                 export a key of a keyring directory instead"
            )));
        }
        let bytes = Zeroizing::new(fs::read_key_file(&self.dir.join(&entry.file))?);
        let secret = Secret::parse(&bytes, entry.alg)?;
        let default = if entry.alg.is_symmetric() {
            ExportFormat::Jwk
        } else {
            ExportFormat::Pem
        };
        match format.unwrap_or(default) {
            ExportFormat::Pem if entry.alg.is_symmetric() => Err(Error::usage(
                "symmetric keys have no PEM form; use --format jwk",
            )),
            ExportFormat::Pem => Ok(Zeroizing::new(secret.to_pem())),
            ExportFormat::Jwk => {
                let mut jwk = secret.to_private_jwk(entry.alg)?;
                jwk = jwk.with_identity(kid, entry.alg);
                Ok(Zeroizing::new(pretty(&jwk)))
            }
        }
    }
}

/// The verifying half of one of tollgate's own private keys: tollgate's own namespace; tokens
/// bounded by `max_ttl` and, once the key stopped signing, by when it stopped.
fn own_key(entry: &KeyEntry, secret: &Secret, max_ttl: i64) -> Result<VerifyingKey> {
    let key = match secret.public_key(entry.alg)? {
        Some(public) => VerifyingKey::from_public(
            Some(entry.kid.clone()),
            entry.state,
            vec![entry.alg],
            &public,
        ),
        None => secret
            .hmac_verifying_key(entry.kid.clone(), entry.state, entry.alg)
            .ok_or_else(|| Error::bad_key("empty secret"))?,
    };
    Ok(key.with_origin(
        Namespace::Own,
        LifetimeBound::Keyring {
            max_ttl: entry.token_lifetime(max_ttl),
            deactivated: entry
                .deactivated
                .filter(|_| !matches!(entry.state, KeyState::Active | KeyState::Next)),
        },
    ))
}

fn pretty(value: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(fs::MANIFEST);
    match fs::read_regular(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::bad_key(format!(
                "keyring manifest {} is corrupt ({e})",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => {
            Err(Error::bad_key(format!("cannot read {}: {e}", path.display())).with_source(e))
        }
    }
}
