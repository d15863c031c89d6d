//! Reading a token WITHOUT verifying it, for `tollgate inspect`. The name is the warning: nothing
//! returned here may be trusted or used for an access decision.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::token::{decode_segment, split};

/// A token's header and claims, decoded but NOT verified.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// The header, as sent.
    pub header: Map<String, Value>,
    /// The claims, as sent.
    pub claims: Map<String, Value>,
}

/// Decodes a token's header and claims without checking the signature or any claim.
///
/// The structural checks still apply: size limit, three segments, strict base64url, strict JSON
/// objects without duplicated members.
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
/// # Ok::<(), tollgate::Error>(())
/// ```
pub fn decode_unverified(token: &str) -> Result<Unverified> {
    let parts = split(token)?;
    Ok(Unverified {
        header: decode_segment(parts.header_b64, "header")?,
        claims: decode_segment(parts.payload_b64, "payload")?,
    })
}
