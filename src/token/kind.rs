//! Telling token kinds apart by their shape, before any decoding: the one place that knows
//! what a refresh token and an access token look like from the outside.

/// The prefix every refresh token starts with (`tgr` = tollgate refresh, format version 1).
pub const REFRESH_TOKEN_PREFIX: &str = "tgr1.";

/// What a presented token is, judged by its shape alone (nothing is verified).
///
/// A refresh token starts with [`REFRESH_TOKEN_PREFIX`]; an access token is a compact JWS, three
/// dot-separated segments, which never starts with that prefix (a JWS header segment is
/// base64url of a JSON object and starts with `ey`). Anything else is neither.
///
/// # Examples
///
/// ```
/// use tollgate::token::TokenKind;
/// assert_eq!(TokenKind::of("tgr1.3f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b.1.abc"), TokenKind::Refresh);
/// assert_eq!(TokenKind::of("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln"), TokenKind::Access);
/// assert_eq!(TokenKind::of("hello"), TokenKind::Unknown);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An opaque refresh token (`tgr1.…`).
    Refresh,
    /// A compact JWS: three dot-separated segments, at most [`MAX_TOKEN_BYTES`](super::MAX_TOKEN_BYTES).
    Access,
    /// Neither.
    Unknown,
}

impl TokenKind {
    /// Sniffs the kind of `token`.
    pub fn of(token: &str) -> TokenKind {
        if token.starts_with(REFRESH_TOKEN_PREFIX) {
            TokenKind::Refresh
        } else if token.len() <= super::MAX_TOKEN_BYTES && token.split('.').count() == 3 {
            TokenKind::Access
        } else {
            TokenKind::Unknown
        }
    }

    /// Whether `token` has a refresh token's shape.
    pub fn is_refresh(token: &str) -> bool {
        TokenKind::of(token) == TokenKind::Refresh
    }
}
