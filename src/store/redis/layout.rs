//! The key layout (version 2): which Redis key holds which entry, the values, the text form of
//! a change as it is published to replicas, and the version-1 keys read once when upgrading.
//!
//! | what | key | value |
//! | --- | --- | --- |
//! | a token or key entry | `<prefix>v2:` + scope letter + 16-byte digest | `revoked_at:stamp:expires_at` |
//! | a session entry | `<prefix>v2:{s` + digest + `}` | `revoked_at:stamp:expires_at` |
//! | a user entry | `<prefix>v2:{u` + digest + `}` | `revoked_at:stamp:expires_at` |
//! | a global entry | `<prefix>v2:g` + digest | `revoked_at:stamp:expires_at` |
//! | a session record | `<prefix>v2:{s` + digest + `}:f` | hash |
//! | a user's sessions | `<prefix>v2:{u` + digest + `}:s` | sorted set of sids |
//! | settings | `<prefix>v2:meta` | hash: `max_leeway`, `v1` (upgraded) |
//!
//! The digest is [`EntryKey`]'s: no id is ever in a key name. Each key expires (`EXAT`) the
//! maximum leeway plus 5 minutes after its `expires_at`, by the Redis server's clock (as the
//! other stores purge); a lookup ignores an entry past `expires_at` by the verifier's clock.

use super::RedisStore;
use crate::store::{Entry, EntryKey, Scope};

/// The layout version in every key, after the prefix.
const VERSION: &[u8] = b"v2:";

impl RedisStore {
    /// The Redis key of an entry (bytes: the digest is binary).
    pub fn entry_key(&self, key: &EntryKey) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        self.write_entry_key(&mut out, key);
        out
    }

    /// Appends [`entry_key`](Self::entry_key) to `out`.
    pub(super) fn write_entry_key(&self, out: &mut Vec<u8>, key: &EntryKey) {
        out.extend_from_slice(self.inner.parsed.prefix.as_bytes());
        out.extend_from_slice(VERSION);
        match key.scope() {
            // Session and user entries share a hash slot with the session's record and the
            // user's index.
            Scope::Session | Scope::User => {
                out.push(b'{');
                out.push(key.scope().letter());
                out.extend_from_slice(key.digest());
                out.push(b'}');
            }
            scope => {
                out.push(scope.letter());
                out.extend_from_slice(key.digest());
            }
        }
    }

    /// The entry key of one of our Redis keys (`None` for records, indexes and foreign keys).
    pub(super) fn parse_entry_key(&self, key: &[u8]) -> Option<EntryKey> {
        let rest = key
            .strip_prefix(self.inner.parsed.prefix.as_bytes())?
            .strip_prefix(VERSION)?;
        let bytes = match rest {
            [b'{', inner @ .., b'}'] if inner.len() == 17 => inner,
            _ if rest.len() == 17 => rest,
            _ => return None,
        };
        let key = EntryKey::from_bytes(bytes)?;
        let braced = rest.first() == Some(&b'{');
        (braced == matches!(key.scope(), Scope::Session | Scope::User)).then_some(key)
    }

    /// The key of a session's record: its session entry's key + `:f`.
    pub fn record_key(&self, sid: &str) -> Vec<u8> {
        let mut key = self.entry_key(&EntryKey::new(
            &crate::keys::Namespace::Own,
            Scope::Session,
            sid,
        ));
        key.extend_from_slice(b":f");
        key
    }

    /// The key of a user's session index: their user entry's key + `:s`.
    pub fn index_key(&self, sub: &str) -> Vec<u8> {
        let mut key = self.entry_key(&EntryKey::new(
            &crate::keys::Namespace::Own,
            Scope::User,
            sub,
        ));
        key.extend_from_slice(b":s");
        key
    }

    /// The settings hash: `<prefix>v2:meta`.
    pub(super) fn meta_key(&self) -> Vec<u8> {
        let mut key = self.inner.parsed.prefix.as_bytes().to_vec();
        key.extend_from_slice(VERSION);
        key.extend_from_slice(b"meta");
        key
    }

    /// The `SCAN` pattern of every version-2 key.
    pub(super) fn scan_pattern(&self) -> String {
        format!("{}v2:*", self.inner.parsed.prefix)
    }
}

/// Parses an entry's value: `revoked_at:stamp:expires_at`.
pub(super) fn parse_value(value: &[u8]) -> Option<(i64, i64, i64)> {
    let text = std::str::from_utf8(value).ok()?;
    let mut parts = text.split(':');
    let parsed = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    parts.next().is_none().then_some(parsed)
}

/// Parses a version-1 entry's value: `revoked_at`, or `revoked_at:stamp` (its expiry was the
/// key's TTL).
pub(super) fn parse_v1_value(value: &[u8]) -> Option<(i64, i64)> {
    let text = std::str::from_utf8(value).ok()?;
    match text.split_once(':') {
        Some((r, s)) => Some((r.parse().ok()?, s.parse().ok()?)),
        None => {
            let r = text.parse().ok()?;
            Some((r, r))
        }
    }
}

/// The text form of a change, as the scripts publish it: `<scope letter><hex digest>
/// <revoked_at> <stamp> <expires_at>`. No id is ever published. (The Lua `publish` helper
/// writes it; this is its Rust twin for tests.)
#[cfg(test)]
pub(super) fn encode_change(entry: &Entry) -> String {
    format!(
        "{} {} {} {}",
        entry.key.to_hex(),
        entry.revoked_at,
        entry.stamp,
        entry.expires_at
    )
}

/// Parses [`encode_change`]'s form.
pub(super) fn decode_change(text: &str) -> Option<Entry> {
    let mut parts = text.split(' ');
    let key = EntryKey::parse_hex(parts.next()?)?;
    let revoked_at = parts.next()?.parse().ok()?;
    let stamp = parts.next()?.parse().ok()?;
    let expires_at = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(Entry {
        key,
        revoked_at,
        stamp,
        expires_at,
    })
}

/// A version-1 key (ids in clear; read once when upgrading): its scope and id.
pub(super) fn parse_v1_key(prefix: &str, key: &[u8]) -> Option<(Scope, String)> {
    let rest = key.strip_prefix(prefix.as_bytes())?;
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
    // Session records (`{s:<sid>}:f`) and user indexes (`{u:<sub>}:s`) end after the brace.
    if let Some(id) = rest.strip_prefix("{s:").and_then(|r| r.strip_suffix('}')) {
        return Some((Scope::Session, id.to_owned()));
    }
    if let Some(id) = rest.strip_prefix("{u:").and_then(|r| r.strip_suffix('}')) {
        return Some((Scope::User, id.to_owned()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Namespace;

    #[test]
    fn changes_round_trip_through_text_and_carry_no_id() {
        let entry = Entry {
            key: EntryKey::new(&Namespace::Own, Scope::User, "alice@example.com"),
            revoked_at: 5,
            stamp: 6,
            expires_at: 9,
        };
        let text = encode_change(&entry);
        assert!(!text.contains("alice"));
        assert_eq!(decode_change(&text), Some(entry));
        assert_eq!(decode_change("x 1 2 3"), None);
        assert_eq!(decode_change(&format!("{text} extra")), None);
    }

    #[test]
    fn values_and_v1_keys_parse() {
        assert_eq!(parse_value(b"10:12:99"), Some((10, 12, 99)));
        assert_eq!(parse_value(b"10:12"), None);
        assert_eq!(parse_value(b"10:12:99:1"), None);
        assert_eq!(parse_v1_value(b"10"), Some((10, 10)));
        assert_eq!(parse_v1_value(b"10:12"), Some((10, 12)));
        assert_eq!(parse_value(b"ten"), None);
        assert_eq!(
            parse_v1_key("tg:v1:", b"tg:v1:{u:alice}"),
            Some((Scope::User, "alice".into()))
        );
        assert_eq!(parse_v1_key("tg:v1:", b"tg:v1:{u:alice}:s"), None);
        assert_eq!(parse_v1_key("tg:v1:", b"tg:v1:v2:meta"), None);
    }
}
