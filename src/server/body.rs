//! Request bodies of the session endpoints: a form or a JSON object, or nothing at all.

use ::axum::body::Bytes;
use ::axum::extract::{FromRequest, Request};
use ::axum::http::{StatusCode, Uri, header};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};

use crate::axum::Rejection;

/// A request body read as `T` from `application/x-www-form-urlencoded` or `application/json`.
///
/// An empty body (with any content type, or none) is `T::default()`, so that a browser's bare
/// `POST` works. Every failure is 400 `invalid_request` (413 over the body limit), never 415 or
/// 422; deserialization messages, which could quote the body, are not echoed.
#[derive(Debug, Clone)]
pub(crate) struct Body<T>(pub(crate) T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Rejection> {
        let media_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            });
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|r| match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => Rejection::too_large(),
                _ => Rejection::invalid_request("the body could not be read"),
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(T::default()));
        }
        let parsed = match media_type.as_deref() {
            Some("application/x-www-form-urlencoded") => {
                serde_urlencoded::from_bytes(&bytes).map_err(|_| ())
            }
            Some(json) if json == "application/json" || json.ends_with("+json") => {
                serde_json::from_slice(&bytes).map_err(|_| ())
            }
            _ => {
                return Err(Rejection::invalid_request(
                    "the body must be application/x-www-form-urlencoded or application/json",
                ));
            }
        };
        parsed.map(Body).map_err(|()| {
            Rejection::invalid_request(
                "malformed body: expected the documented fields, each once, with values of the right type",
            )
        })
    }
}

/// The query string of `uri` read as `T` (an absent query is `T::default()`).
///
/// # Errors
///
/// 400 `invalid_request` when it does not parse.
pub(crate) fn query<T: DeserializeOwned + Default>(uri: &Uri) -> Result<T, Rejection> {
    match uri.query() {
        None | Some("") => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|_| Rejection::invalid_request("malformed query string")),
    }
}

/// A yes/no field: a JSON boolean, or (in forms and JSON alike) `1`/`true`/`on`/`yes` and
/// `0`/`false`/`off`/`no`/empty, as an HTML checkbox or a script would send it.
pub(crate) fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Number(u8),
        Text(String),
    }
    match Flag::deserialize(deserializer)? {
        Flag::Bool(b) => Ok(b),
        Flag::Number(0) => Ok(false),
        Flag::Number(1) => Ok(true),
        Flag::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => Ok(true),
            "" | "0" | "false" | "off" | "no" => Ok(false),
            _ => Err(serde::de::Error::custom("not a yes/no value")),
        },
        Flag::Number(_) => Err(serde::de::Error::custom("not a yes/no value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Form {
        #[serde(deserialize_with = "flag")]
        on: bool,
        name: Option<String>,
    }

    #[test]
    fn flags_read_checkboxes_and_booleans() {
        for (text, on) in [
            ("on=on", true),
            ("on=1", true),
            ("on=TRUE", true),
            ("on=", false),
            ("on=0", false),
            ("name=x", false),
        ] {
            let form: Form = serde_urlencoded::from_str(text).unwrap();
            assert_eq!(form.on, on, "{text}");
        }
        assert!(serde_urlencoded::from_str::<Form>("on=maybe").is_err());
        assert!(serde_urlencoded::from_str::<Form>("name=a&name=b").is_err());
        for (json, on) in [
            (r#"{"on":true}"#, true),
            (r#"{"on":"yes"}"#, true),
            (r#"{"on":0}"#, false),
        ] {
            assert_eq!(serde_json::from_str::<Form>(json).unwrap().on, on, "{json}");
        }
        assert!(serde_json::from_str::<Form>(r#"{"on":[1]}"#).is_err());
    }
}
