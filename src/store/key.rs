//! The store key layout (version 2): every entry is named by its scope and a fixed-size digest
//! of its namespace and id, so that ids of any length can be revoked, short and long ids never
//! collide, and no id (a subject, a session id) is kept in clear in any store.

use std::fmt;

use aws_lc_rs::digest::{Context, SHA256};

use super::Scope;
use crate::keys::Namespace;

/// Bytes of digest in an [`EntryKey`]: 16 (128 bits of SHA-256).
pub const DIGEST_LEN: usize = 16;

/// The name of one denylist entry: a scope and `SHA-256("tollgate/v2/entry" ‖ namespace ‖
/// scope ‖ id)` cut to 16 bytes.
///
/// The namespace is where the verifying key came from ([`Namespace`]), so an entry of one
/// issuer can never match a token of another. 128 bits leave a second preimage (making a token
/// whose id lands on another's entry) out of reach; a collision between two ids an attacker
/// chooses gains nothing, since both would be the attacker's own.
///
/// # Examples
///
/// ```
/// use tollgate::keys::Namespace;
/// use tollgate::store::{EntryKey, Scope};
/// let own = EntryKey::new(&Namespace::Own, Scope::User, "alice");
/// let foreign = EntryKey::new(&Namespace::Issuer("https://idp.example".into()), Scope::User, "alice");
/// assert_ne!(own, foreign);
/// assert_eq!(own.scope(), Scope::User);
/// let long = EntryKey::new(&Namespace::Own, Scope::Session, &"s".repeat(600));
/// assert_eq!(long.to_bytes().len(), 17);
/// assert_eq!(EntryKey::from_bytes(&long.to_bytes()), Some(long));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryKey {
    scope: Scope,
    digest: [u8; DIGEST_LEN],
}

impl EntryKey {
    /// The key of `id` in `scope` within `namespace` (the id of [`Scope::Global`] is empty).
    ///
    /// Key and global entries belong to no namespace: a global revocation refuses every
    /// token, whoever issued it, and a key revocation every token carrying that `kid`, however
    /// the key came in (a key revoked in the keyring and imported again is still revoked).
    pub fn new(namespace: &Namespace, scope: Scope, id: &str) -> EntryKey {
        let label = match scope {
            Scope::Key | Scope::Global => String::new(),
            _ => namespace.label(),
        };
        let mut context = Context::new(&SHA256);
        context.update(b"tollgate/v2/entry\0");
        context.update(&(label.len() as u64).to_be_bytes());
        context.update(label.as_bytes());
        context.update(&[scope.letter()]);
        context.update(id.as_bytes());
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(&context.finish().as_ref()[..DIGEST_LEN]);
        EntryKey { scope, digest }
    }

    /// The scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The 16-byte digest.
    pub fn digest(&self) -> &[u8; DIGEST_LEN] {
        &self.digest
    }

    /// The 17-byte form: the scope's letter, then the digest.
    pub fn to_bytes(&self) -> [u8; DIGEST_LEN + 1] {
        let mut out = [0u8; DIGEST_LEN + 1];
        out[0] = self.scope.letter();
        out[1..].copy_from_slice(&self.digest);
        out
    }

    /// Parses [`to_bytes`](Self::to_bytes)'s form.
    pub fn from_bytes(bytes: &[u8]) -> Option<EntryKey> {
        let (&letter, digest) = bytes.split_first()?;
        Some(EntryKey {
            scope: Scope::from_letter(letter)?,
            digest: digest.try_into().ok()?,
        })
    }

    /// A short text form for logs and messages: `user:3f9a1c2e…`.
    pub fn short(&self) -> String {
        let hex: String = self.digest[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}:{hex}…", self.scope)
    }

    /// The digest in lower-case hex (32 characters).
    pub fn hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses `<scope letter><32 hex digits>`, the form published to replicas.
    pub fn parse_hex(text: &str) -> Option<EntryKey> {
        let (letter, hex) = text.split_at_checked(1)?;
        if hex.len() != 2 * DIGEST_LEN {
            return None;
        }
        let mut digest = [0u8; DIGEST_LEN];
        for (i, out) in digest.iter_mut().enumerate() {
            *out = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(EntryKey {
            scope: Scope::from_letter(*letter.as_bytes().first()?)?,
            digest,
        })
    }

    /// `<scope letter><32 hex digits>`.
    pub fn to_hex(&self) -> String {
        format!("{}{}", self.scope.letter() as char, self.hex())
    }
}

impl fmt::Debug for EntryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_namespaces_and_ids_never_share_a_key() {
        let ns = Namespace::Own;
        let a = EntryKey::new(&ns, Scope::User, "alice");
        assert_ne!(a, EntryKey::new(&ns, Scope::Session, "alice"));
        assert_ne!(
            a,
            EntryKey::new(&Namespace::Key("alice".into()), Scope::User, "")
        );
        assert_ne!(a, EntryKey::new(&ns, Scope::User, "alice "));
        assert_eq!(a, EntryKey::new(&ns, Scope::User, "alice"));
        assert_ne!(
            a,
            EntryKey::new(&Namespace::Issuer("i".into()), Scope::User, "alice")
        );
        // Key and global entries hold in every namespace.
        let other = Namespace::Issuer("https://idp".into());
        for (scope, id) in [(Scope::Key, "k1"), (Scope::Global, "")] {
            assert_eq!(
                EntryKey::new(&ns, scope, id),
                EntryKey::new(&other, scope, id)
            );
        }
        assert_eq!(EntryKey::parse_hex(&a.to_hex()), Some(a));
        assert_eq!(EntryKey::parse_hex("x0011"), None);
        assert_eq!(EntryKey::from_bytes(&[b'q'; 17]), None);
    }
}
