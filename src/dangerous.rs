//! Reading a token WITHOUT verifying it, for `tollgate inspect`. The name is the warning: nothing
//! returned here may be trusted or used for an access decision.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::token::{decode_segment, split_with};

/// A token's header and claims, decoded but NOT verified.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// The header, as sent.
    pub header: Map<String, Value>,
    /// The claims, as sent.
    pub claims: Map<String, Value>,
    /// Whether the token carries no signature at all (an empty third segment, or `alg`
    /// `none`): it could never verify, whoever made it.
    pub unsigned: bool,
}

/// Decodes a token's header and claims without checking the signature or any claim.
///
/// The structural checks still apply: size limit, three segments, strict base64url, strict JSON
/// objects without duplicated members. An unsigned token (`alg: none`, empty signature) is
/// decoded too, and says so ([`Unverified::unsigned`]): nothing here verifies anything.
///
/// # Errors
///
/// [`ErrorKind::Malformed`](crate::ErrorKind::Malformed) when the token cannot be decoded.
///
/// # Examples
///
/// ```
/// let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";
/// let unverified = tollgate::dangerous::decode_unverified(token)?;
/// assert_eq!(unverified.claims["sub"], "alice");
/// assert!(!unverified.unsigned);
/// let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";
/// assert!(tollgate::dangerous::decode_unverified(none)?.unsigned);
/// # Ok::<(), tollgate::Error>(())
/// ```
pub fn decode_unverified(token: &str) -> Result<Unverified> {
    let parts = split_with(token, true)?;
    let header = decode_segment(parts.header_b64, "header")?;
    let unsigned = parts.signature_b64.is_empty()
        || header
            .get("alg")
            .and_then(Value::as_str)
            .is_some_and(|alg| alg.eq_ignore_ascii_case("none"));
    Ok(Unverified {
        header,
        claims: decode_segment(parts.payload_b64, "payload")?,
        unsigned,
    })
}
