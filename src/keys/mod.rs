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
mod import;
mod jwks;
mod material;
mod roca;
mod set;
mod strength;
mod usage;

use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::EncodingKey;
use zeroize::Zeroizing;

pub use entry::{DEFAULT_MAX_TTL, KeyEntry, KeyState, Manifest, validate_kid};
pub use import::Imported;
pub use jwks::{Jwk, JwkSet, thumbprint};
pub use material::{Curve, PublicKey};
pub use set::{KeySet, VerifyingKey};

use crate::alg::Algorithm;
use crate::clock::Clock;
use crate::error::{Error, Result, quoted};
use material::Secret;

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
                let key = match secret.public_key(entry.alg).map_err(named)? {
                    Some(public) => VerifyingKey::from_public(
                        Some(entry.kid.clone()),
                        entry.state,
                        vec![entry.alg],
                        &public,
                    ),
                    None => secret
                        .hmac_verifying_key(entry.kid.clone(), entry.state, entry.alg)
                        .ok_or_else(|| named(Error::bad_key("empty secret")))?,
                };
                set.push(key);
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
                set.push(VerifyingKey::from_public(
                    Some(entry.kid.clone()),
                    entry.state,
                    vec![entry.alg],
                    &public,
                ));
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
        })
    }

    /// The keyring's session key: 32 random bytes in `session.key` (mode 0600) that tag every
    /// refresh token this keyring's services issue, so a made-up refresh token is told apart
    /// from a stolen one. Created on first use, under the keyring's lock. Every service that
    /// refreshes sessions must share it (it travels with the keyring directory); deleting it
    /// invalidates every refresh token.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) when it cannot be read or written.
    pub(crate) fn session_key(&self) -> Result<Zeroizing<[u8; 32]>> {
        if let Some(key) = self.session_key.get() {
            return Ok(key.clone());
        }
        let _lock = fs::Lock::acquire(&self.dir)?;
        let key = match read_session_key(&self.dir)? {
            Some(key) => key,
            None => {
                let mut key = Zeroizing::new([0u8; 32]);
                aws_lc_rs::rand::SecureRandom::fill(
                    &aws_lc_rs::rand::SystemRandom::new(),
                    key.as_mut(),
                )
                .map_err(|_| Error::bad_key("the system random number generator failed"))?;
                fs::write_atomic(&self.dir, SESSION_KEY, key.as_ref())?;
                key
            }
        };
        let _ = self.session_key.set(key.clone());
        Ok(key)
    }

    /// The keyring directory.
    pub fn dir(&self) -> &Path {
        &self.dir
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

    /// Applies a change under the lock to the manifest as it is on disk now, then reloads.
    fn update<T>(
        &mut self,
        change: impl FnOnce(&Path, &mut Manifest) -> Result<(T, Vec<String>)>,
    ) -> Result<T> {
        let _lock = fs::Lock::acquire(&self.dir)?;
        let mut manifest = read_manifest(&self.dir)?;
        let (out, obsolete_files) = change(&self.dir, &mut manifest)?;
        manifest.validate()?;
        let text =
            serde_json::to_vec_pretty(&manifest).map_err(|e| Error::bad_key(e.to_string()))?;
        fs::write_atomic(&self.dir, fs::MANIFEST, &text)?;
        for file in obsolete_files {
            fs::remove(&self.dir, &file)?;
        }
        *self = Keyring::load(self.dir.clone(), manifest)?;
        Ok(out)
    }

    /// Generates a key and adds it. The first key of a keyring without an active key becomes
    /// `active`; later keys are `next` (published, promoted by [`Keyring::rotate`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) for a bad or duplicate kid, or when the
    /// keyring already has a `next` key (a second would leave unclear which one the next
    /// rotation promotes); [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) when files cannot be
    /// written.
    pub fn generate(
        &mut self,
        alg: Algorithm,
        kid: Option<&str>,
        clock: &Clock,
    ) -> Result<KeyEntry> {
        self.update(|dir, manifest| {
            let state = if manifest.keys.iter().any(|k| k.state == KeyState::Active) {
                refuse_second_next(manifest)?;
                KeyState::Next
            } else {
                KeyState::Active
            };
            Ok((
                add_generated(dir, manifest, alg, kid, state, clock)?,
                Vec::new(),
            ))
        })
    }

    /// Rotates: a new key signs from now on and the previous active key becomes `verify`.
    ///
    /// The new key is the newest `next` key if there is one (its algorithm must match `alg` when
    /// given), else a fresh key of `alg` (default: the active key's algorithm, else EdDSA).
    /// With `stage`, only adds a `next` key that is published but does not sign until the
    /// following rotation; a keyring holds at most one `next` key.
    ///
    /// # Errors
    ///
    /// As [`Keyring::generate`]: with `stage`, a usage error when a `next` key is staged already.
    pub fn rotate(
        &mut self,
        alg: Option<Algorithm>,
        stage: bool,
        clock: &Clock,
    ) -> Result<KeyEntry> {
        let now = clock.now();
        self.update(|dir, manifest| {
            let current_alg = manifest.keys.iter().find(|k| k.state == KeyState::Active).map(|k| k.alg);
            let alg_for_new = alg.or(current_alg).unwrap_or_default();
            if stage {
                refuse_second_next(manifest)?;
                let entry = add_generated(dir, manifest, alg_for_new, None, KeyState::Next, clock)?;
                return Ok((entry, Vec::new()));
            }
            let staged = manifest
                .keys
                .iter()
                .rposition(|k| k.state == KeyState::Next && k.private);
            let index = match staged {
                Some(i) => {
                    if let Some(alg) = alg.filter(|a| *a != manifest.keys[i].alg) {
                        return Err(Error::usage(format!(
                            "the staged key {} is {}, not {alg}; rotate without --alg to promote it, or retire it first",
                            manifest.keys[i].kid, manifest.keys[i].alg
                        )));
                    }
                    i
                }
                None => {
                    add_generated(dir, manifest, alg_for_new, None, KeyState::Next, clock)?;
                    manifest.keys.len() - 1
                }
            };
            for key in manifest.keys.iter_mut().filter(|k| k.state == KeyState::Active) {
                key.state = KeyState::Verify;
                key.deactivated = Some(now);
            }
            let key = &mut manifest.keys[index];
            key.state = KeyState::Active;
            key.activated = Some(now);
            Ok((key.clone(), Vec::new()))
        })
    }

    /// Retires a key: tokens signed by it are rejected (`retired_kid`) from now on.
    ///
    /// Retiring the staged `next` key unstages it (it never signed).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) for an unknown kid or the active key
    /// (rotate first).
    pub fn retire(&mut self, kid: &str, clock: &Clock) -> Result<KeyEntry> {
        let now = clock.now();
        self.update(|_, manifest| {
            let key = manifest
                .keys
                .iter_mut()
                .find(|k| k.kid == kid)
                .ok_or_else(|| {
                    Error::usage(format!(
                        "no key with kid {}; see `tollgate keys list`",
                        quoted(kid)
                    ))
                })?;
            if key.state == KeyState::Active {
                return Err(Error::usage(format!(
                    "key {kid} is the active key; run `tollgate keys rotate` first, then retire it"
                )));
            }
            if key.state != KeyState::Retired {
                key.deactivated.get_or_insert(now);
                key.state = KeyState::Retired;
                key.retired = Some(now);
            }
            Ok((key.clone(), Vec::new()))
        })
    }

    /// Deletes retired keys retired at least `older_than` ago; returns their kids.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) when files cannot be written or deleted.
    pub fn prune(&mut self, older_than: Duration, clock: &Clock) -> Result<Vec<String>> {
        let cutoff = clock
            .now()
            .saturating_sub(i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX));
        self.update(|_, manifest| {
            let (gone, kept): (Vec<KeyEntry>, Vec<KeyEntry>) =
                manifest.keys.drain(..).partition(|k| {
                    k.state == KeyState::Retired && k.retired.unwrap_or(i64::MIN) <= cutoff
                });
            manifest.keys = kept;
            let files = gone.iter().map(|k| k.file.clone()).collect();
            Ok((gone.into_iter().map(|k| k.kid).collect(), files))
        })
    }

    /// Imports public keys as `verify` keys, for tokens minted elsewhere: any key-file form of
    /// [`KeySet::from_file`] that holds public keys (PEM or DER SPKI or certificate, JWK, JWK
    /// Set). Each key's algorithm is its JWK `alg`, else `alg`, else the default for its type
    /// (EdDSA, ES256/ES384 by curve, RS256). JWK Set members that cannot be used are skipped and
    /// reported in [`Imported::skipped`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) for unreadable input or a JWK Set with a
    /// private member; [`ErrorKind::Usage`](crate::ErrorKind::Usage) for a private key or
    /// secret, a duplicate kid, or `kid` given with several keys.
    pub fn import(
        &mut self,
        bytes: &[u8],
        kid: Option<&str>,
        alg: Option<Algorithm>,
        clock: &Clock,
    ) -> Result<Imported> {
        let (keys, skipped) = import::parse(bytes)?;
        if kid.is_some() && keys.len() != 1 {
            return Err(Error::usage(format!(
                "--kid names one key, but the input holds {}",
                keys.len()
            )));
        }
        let now = clock.now();
        self.update(|dir, manifest| {
            let mut added = Vec::new();
            for import::ImportedKey {
                alg: jwk_alg,
                kid: jwk_kid,
                public,
            } in keys
            {
                let alg = jwk_alg.or(alg).unwrap_or_else(|| default_alg(&public));
                if !public.allows(alg) {
                    return Err(Error::usage(format!(
                        "a {:?} key cannot use {alg}",
                        public.family()
                    )));
                }
                let kid = kid
                    .map(str::to_string)
                    .or(jwk_kid)
                    .unwrap_or_else(|| thumbprint(&public));
                validate_kid(&kid)?;
                ensure_new_kid(manifest, &kid)?;
                let file = format!("{kid}.pub.jwk");
                let jwk = public.to_jwk().with_identity(&kid, alg);
                fs::write_atomic(dir, &file, pretty(&jwk).as_bytes())?;
                let entry = KeyEntry {
                    kid,
                    alg,
                    state: KeyState::Verify,
                    file,
                    private: false,
                    created: now,
                    activated: None,
                    deactivated: None,
                    retired: None,
                };
                manifest.keys.push(entry.clone());
                added.push(entry);
            }
            Ok((added, Vec::new()))
        })
        .map(|entries| Imported { entries, skipped })
    }
}

fn pretty(value: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// The file holding the keyring's session key.
const SESSION_KEY: &str = "session.key";

fn read_session_key(dir: &Path) -> Result<Option<Zeroizing<[u8; 32]>>> {
    let path = dir.join(SESSION_KEY);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = Zeroizing::new(fs::read_key_file(&path)?);
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::bad_key(format!("session key {} is not 32 bytes", path.display())))?;
    Ok(Some(Zeroizing::new(key)))
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(fs::MANIFEST);
    match std::fs::read(&path) {
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

fn ensure_new_kid(manifest: &Manifest, kid: &str) -> Result<()> {
    if manifest.keys.iter().any(|k| k.kid == kid) {
        return Err(Error::usage(format!(
            "kid {} is already in the keyring",
            quoted(kid)
        )));
    }
    Ok(())
}

fn default_alg(public: &PublicKey) -> Algorithm {
    match public.curve() {
        Some(Curve::P256) => Algorithm::ES256,
        Some(Curve::P384) => Algorithm::ES384,
        None if public.family() == crate::alg::Family::Ed => Algorithm::EdDSA,
        None => Algorithm::RS256,
    }
}

/// A second `next` key is refused: which one the next rotation would promote is not
/// obvious, and both would be published in the JWK Set as if about to sign.
fn refuse_second_next(manifest: &Manifest) -> Result<()> {
    match manifest.keys.iter().find(|k| k.state == KeyState::Next) {
        None => Ok(()),
        Some(staged) => Err(Error::usage(format!(
            "key {} is already staged as `next`, and a keyring holds one; run \
             `tollgate keys rotate` to make it sign first, or `tollgate keys retire {}` to drop it",
            staged.kid, staged.kid
        ))),
    }
}

fn add_generated(
    dir: &Path,
    manifest: &mut Manifest,
    alg: Algorithm,
    kid: Option<&str>,
    state: KeyState,
    clock: &Clock,
) -> Result<KeyEntry> {
    if let Some(kid) = kid {
        validate_kid(kid)?;
        ensure_new_kid(manifest, kid)?;
    }
    let secret = material::generate(alg)?;
    let kid = match (kid, secret.public_key(alg)?) {
        (Some(kid), _) => kid.to_string(),
        (None, Some(public)) => thumbprint(&public),
        // A symmetric key's thumbprint would publish a hash of the secret: use a random kid.
        (None, None) => uuid::Uuid::new_v4().simple().to_string(),
    };
    ensure_new_kid(manifest, &kid)?;
    let file = format!("{kid}.{}", if alg.is_symmetric() { "jwk" } else { "pem" });
    fs::write_atomic(dir, &file, &secret.to_file(alg))?;
    let now = clock.now();
    let entry = KeyEntry {
        kid,
        alg,
        state,
        file,
        private: true,
        created: now,
        activated: (state == KeyState::Active).then_some(now),
        deactivated: None,
        retired: None,
    };
    manifest.keys.push(entry.clone());
    Ok(entry)
}
