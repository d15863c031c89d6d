//! Strict JSON for token segments: an object at the top, no duplicated member names at any depth
//! (RFC 7515 §5.2 and RFC 8725 §3.2: a parser that keeps the last duplicate lets two readers of
//! one token see different claims).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member {}",
                    crate::error::quoted(&key)
                )));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// A map key, borrowed from the input when it has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A JSON object split into the members named in `N` (by position) and the rest.
pub(crate) struct Split<const N: usize> {
    pub(crate) known: [Option<Value>; N],
    pub(crate) rest: Map<String, Value>,
}

struct SplitVisitor<const N: usize>(&'static [&'static str; N]);

impl<'de, const N: usize> Visitor<'de> for SplitVisitor<N> {
    type Value = Split<N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Split<N>, A::Error> {
        let mut known: [Option<Value>; N] = std::array::from_fn(|_| None);
        let mut rest = Map::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let duplicate = || {
                de::Error::custom(format_args!(
                    "duplicate member {}",
                    crate::error::quoted(&key)
                ))
            };
            match self.0.iter().position(|name| *name == key) {
                Some(i) if known[i].is_some() => return Err(duplicate()),
                Some(i) => {
                    let Strict(v) = map.next_value()?;
                    known[i] = Some(v);
                }
                None if rest.contains_key(key.as_ref()) => return Err(duplicate()),
                None => {
                    let Strict(v) = map.next_value()?;
                    rest.insert(key.into_owned(), v);
                }
            }
        }
        Ok(Split { known, rest })
    }
}

/// Parses `bytes` as one JSON object with unique member names (at any depth), taking the
/// members named in `known` out by position: no map insertions or key copies for them.
pub(crate) fn parse_split<const N: usize>(
    bytes: &[u8],
    known: &'static [&'static str; N],
) -> Result<Split<N>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let split = de
        .deserialize_map(SplitVisitor(known))
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(split)
}

/// Deserializes an optional JSON value of a larger structure with the same rules: unique
/// member names at every depth (for a field such as the `claims` of a login body; use with
/// `#[serde(default, deserialize_with = "crate::json::strict_option")]`).
#[cfg(feature = "server")]
pub(crate) fn strict_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Strict::deserialize(d).map(|Strict(v)| Some(v))
}

/// Parses `bytes` as one JSON object with unique member names.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let Strict(value) = Strict::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err("not a JSON object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_object(br#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(parse_object(br#"{"a":[{"c":1,"c":2}]}"#).is_err());
        assert_eq!(parse_object(br#"{"a":1,"b":[1,2]}"#).unwrap().len(), 2);
    }

    #[test]
    fn split_takes_known_members_and_refuses_duplicates() {
        let s = parse_split(br#"{"a":1,"z":2,"b":"x"}"#, &["a", "b"]).unwrap();
        assert_eq!(s.known[0], Some(Value::from(1)));
        assert_eq!(s.known[1], Some(Value::from("x")));
        assert_eq!(s.rest.len(), 1);
        assert!(parse_split(br#"{"a":1,"a":1}"#, &["a"]).is_err());
        assert!(parse_split(br#"{"z":1,"z":1}"#, &["a"]).is_err());
        assert!(
            parse_split(br#"{"\u0061":1,"a":1}"#, &["a"]).is_err(),
            "escaped names are names"
        );
        assert!(parse_split(b"[1]", &["a"]).is_err());
    }

    #[test]
    fn only_objects_and_no_trailing_data() {
        assert!(parse_object(b"[1]").is_err());
        assert!(parse_object(b"{} {}").is_err());
        assert!(parse_object(b"").is_err());
    }
}
