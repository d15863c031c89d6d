//! Changes to a keyring: generate, rotate, retire, prune and import. Each one takes the
//! directory's lock, applies itself to the manifest as it is on disk, writes the manifest last
//! and reloads ([`Keyring::update`]).

use std::path::Path;
use std::time::Duration;

use super::material::{self, Curve, PublicKey};
use super::{
    Imported, KeyEntry, KeyState, Keyring, Manifest, fs, import, pretty, read_manifest, thumbprint,
    validate_kid,
};
use crate::alg::Algorithm;
use crate::clock::Clock;
use crate::error::{Error, Result, quoted};

impl Keyring {
    /// Applies a change under the lock to the manifest as it is on disk now, then reloads.
    fn update<T>(
        &mut self,
        change: impl FnOnce(&Path, &mut Manifest) -> Result<(T, Vec<String>)>,
    ) -> Result<T> {
        if self.in_memory {
            return Err(Error::usage(
                "an in-memory keyring cannot be changed: its one key lives and dies with the \
                 process; use a keyring directory (`tollgate keys generate`) to rotate keys",
            ));
        }
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
            let max_ttl = manifest.max_ttl;
            for key in manifest.keys.iter_mut().filter(|k| k.state == KeyState::Active) {
                key.state = KeyState::Verify;
                key.deactivated = Some(now);
                key.deactivated_max_ttl = Some(max_ttl);
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
            let max_ttl = manifest.max_ttl;
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
                if key.deactivated.is_none() {
                    key.deactivated = Some(now);
                    key.deactivated_max_ttl = Some(max_ttl);
                }
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
    /// [`KeySet::from_file`](crate::KeySet::from_file) that holds public keys (PEM or DER SPKI or certificate, JWK, JWK
    /// Set). Each key's algorithm is its JWK `alg`, else `alg`, else the default for its type
    /// (EdDSA, ES256/ES384 by curve, RS256). JWK Set members that cannot be used are skipped and
    /// reported in [`Imported::skipped`].
    ///
    /// With `issuer`, the keys are bound to that issuer: they accept only tokens whose `iss` is
    /// it, and the ids their tokens carry (`jti`, `sid`, `sub`) live in that issuer's namespace.
    /// Without, each key is its own namespace, and refuses tokens whose `iss` is the keyring's
    /// own issuer (the verifier's configured one): nothing it signs can pass for, revoke or end
    /// anything of tollgate's own.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`](crate::ErrorKind::BadKey) for unreadable input or a JWK Set with a
    /// private member; [`ErrorKind::Usage`](crate::ErrorKind::Usage) for a private key or
    /// secret, a duplicate kid, `kid` given with several keys, or an empty issuer.
    pub fn import(
        &mut self,
        bytes: &[u8],
        kid: Option<&str>,
        alg: Option<Algorithm>,
        issuer: Option<&str>,
        clock: &Clock,
    ) -> Result<Imported> {
        if issuer.is_some_and(|iss| iss.trim().is_empty()) {
            return Err(Error::usage(
                "the issuer (--iss) must not be empty: give the `iss` its tokens carry",
            ));
        }
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
                    deactivated_max_ttl: None,
                    retired: None,
                    issuer: issuer.map(str::to_string),
                };
                manifest.keys.push(entry.clone());
                added.push(entry);
            }
            Ok((added, Vec::new()))
        })
        .map(|entries| Imported { entries, skipped })
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
        deactivated_max_ttl: None,
        retired: None,
        issuer: None,
    };
    manifest.keys.push(entry.clone());
    Ok(entry)
}
