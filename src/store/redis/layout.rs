//! The key layout: which Redis key holds which revocation, and the text form of a change as
//! it is published to replicas (see the [module docs](super) for the table).

use super::RedisStore;
use crate::store::{Revocation, Scope};

impl RedisStore {
    /// The Redis key that holds a revocation of `id` in `scope` (see the key layout above; a
    /// canonical UUID token id is packed into 16 raw bytes, so keys are bytes, not text).
    pub fn key(&self, scope: Scope, id: &str) -> Vec<u8> {
        let mut key = Vec::new();
        self.write_key(&mut key, scope, id);
        key
    }

    /// Appends the key of `(scope, id)` to `out`.
    pub(super) fn write_key(&self, out: &mut Vec<u8>, scope: Scope, id: &str) {
        out.extend_from_slice(self.inner.parsed.prefix.as_bytes());
        if scope == Scope::Token
            && let Some(uuid) = crate::store::canonical_uuid(id)
        {
            out.push(b'J');
            out.extend_from_slice(&uuid.to_be_bytes());
            return;
        }
        let (open, close) = match scope {
            Scope::Token => ("j:", ""),
            Scope::Session => ("{s:", "}"),
            Scope::User => ("{u:", "}"),
            Scope::Key => ("k:", ""),
            Scope::Global => ("g", ""),
        };
        out.extend_from_slice(open.as_bytes());
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(close.as_bytes());
    }

    /// The scope and id of one of our keys.
    pub(super) fn parse_key(&self, key: &[u8]) -> Option<(Scope, String)> {
        let rest = key.strip_prefix(self.inner.parsed.prefix.as_bytes())?;
        if let Some(packed) = rest.strip_prefix(b"J") {
            let bytes: [u8; 16] = packed.try_into().ok()?;
            let uuid = uuid::Uuid::from_bytes(bytes);
            return Some((Scope::Token, uuid.hyphenated().to_string()));
        }
        let rest = std::str::from_utf8(rest).ok()?;
        if rest == "g" {
            return Some((Scope::Global, String::new()));
        }
        if let Some(id) = rest.strip_prefix("j:") {
            return Some((Scope::Token, id.to_owned()));
        }
        if let Some(id) = rest.strip_prefix("k:") {
            return Some((Scope::Key, id.to_owned()));
        }
        if let Some(id) = rest.strip_prefix("{s:").and_then(|r| r.strip_suffix('}')) {
            return Some((Scope::Session, id.to_owned()));
        }
        if let Some(id) = rest.strip_prefix("{u:").and_then(|r| r.strip_suffix('}')) {
            return Some((Scope::User, id.to_owned()));
        }
        None
    }
}

/// The compact text form of a change, as Redis publishes it: `<scope letter> <revoked_at>
/// <expires_at> <id>` (the id last, so that it may contain spaces).
pub(super) fn encode_change(entry: &Revocation) -> String {
    format!(
        "{} {} {} {}",
        scope_letter(entry.scope),
        entry.revoked_at,
        entry.expires_at,
        entry.id
    )
}

/// Parses [`encode_change`]'s form.
pub(super) fn decode_change(text: &str) -> Option<Revocation> {
    let mut parts = text.splitn(4, ' ');
    let scope = scope_from_letter(parts.next()?)?;
    let revoked_at = parts.next()?.parse().ok()?;
    let expires_at = parts.next()?.parse().ok()?;
    let id = parts.next()?.to_owned();
    Some(Revocation {
        scope,
        id,
        revoked_at,
        expires_at,
    })
}

fn scope_letter(scope: Scope) -> char {
    match scope {
        Scope::Token => 'j',
        Scope::Session => 's',
        Scope::User => 'u',
        Scope::Key => 'k',
        Scope::Global => 'g',
    }
}

fn scope_from_letter(letter: &str) -> Option<Scope> {
    Some(match letter {
        "j" => Scope::Token,
        "s" => Scope::Session,
        "u" => Scope::User,
        "k" => Scope::Key,
        "g" => Scope::Global,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_through_text() {
        for entry in [
            Revocation::new(Scope::Token, "a b c", 1, 2),
            Revocation::new(Scope::Global, "", -5, 9),
        ] {
            assert_eq!(decode_change(&encode_change(&entry)), Some(entry));
        }
        assert_eq!(decode_change("x 1 2 id"), None);
        assert_eq!(decode_change("j one 2 id"), None);
    }
}
