//! The keyring's session key (`session.key`): 32 random bytes that tag the refresh tokens of
//! this keyring's services (see [`Keyring::session_key`]).

use std::path::Path;

use zeroize::Zeroizing;

use super::{Keyring, fs};
use crate::error::{Error, Result};

impl Keyring {
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
}

/// The file holding the keyring's session key.
const SESSION_KEY: &str = "session.key";

pub(super) fn read_session_key(dir: &Path) -> Result<Option<Zeroizing<[u8; 32]>>> {
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_once_with_mode_0600_and_shared_by_every_opening() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let first = Keyring::init(&keys).unwrap();
        assert!(
            read_session_key(&keys).unwrap().is_none(),
            "created on first use only"
        );
        let key = first.session_key().unwrap();
        let mode = std::fs::metadata(keys.join(SESSION_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Another opening (another process) reads the same key; a second call, too.
        let second = Keyring::open(&keys).unwrap();
        assert_eq!(*second.session_key().unwrap(), *key);
        assert_eq!(*first.session_key().unwrap(), *key);
        assert_ne!(*key, [0u8; 32]);
    }

    #[test]
    fn a_session_key_of_the_wrong_length_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        Keyring::init(&keys).unwrap();
        fs::write_atomic(&keys, SESSION_KEY, &[7u8; 31]).unwrap();
        let err = Keyring::open(&keys).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::BadKey);
        assert!(err.message().contains("session.key"), "{}", err.message());
        assert!(err.message().contains("not 32 bytes"), "{}", err.message());
    }
}
