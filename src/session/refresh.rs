//! The refresh token's wire format and the cryptography around it: secrets, their SHA-256
//! digests, the sealed successor, and the access-token id derived from a secret.
//!
//! Format: `tgr1.<sid>.<generation>.<secret>` (see the [module docs](super) for why).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::store::{SecretHash, digests_match};
use crate::token::{REFRESH_TOKEN_PREFIX, TokenKind};

/// Bytes of randomness in a refresh secret: 32.
pub(crate) const SECRET_LEN: usize = 32;

/// The largest generation a refresh token may name: 2^53 (exact in Redis's Lua numbers).
pub(crate) const MAX_GENERATION: u64 = 1 << 53;

/// Refresh tokens longer than this are rejected before any parsing.
const MAX_LEN: usize = 256;

/// A refresh secret; zeroized on drop.
pub(crate) struct Secret(Zeroizing<[u8; SECRET_LEN]>);

/// Bytes of randomness in a refresh secret; the other half is its authenticity tag.
const RANDOM_LEN: usize = 16;

impl Secret {
    /// A new secret for generation `generation` of session `sid`: 16 bytes from the system's
    /// CSPRNG (aws-lc-rs), then a 16-byte tag,
    /// `HMAC-SHA256(session key, "tollgate/v1/refresh-tag" ‖ sid ‖ generation ‖ random)`.
    ///
    /// The tag lets a service tell a refresh token it issued from one made up by someone who
    /// only knows a session id (which every access token carries): a made-up token is refused
    /// before the store is asked, so it can never pass for a stolen one and end the session.
    pub(crate) fn generate(session_key: &[u8], sid: &str, generation: u64) -> Result<Secret> {
        let mut bytes = Zeroizing::new([0u8; SECRET_LEN]);
        SystemRandom::new()
            .fill(&mut bytes[..RANDOM_LEN])
            .map_err(|_| random_error())?;
        let tag = tag(session_key, sid, generation, &bytes[..RANDOM_LEN]);
        bytes[RANDOM_LEN..].copy_from_slice(&tag.as_ref()[..SECRET_LEN - RANDOM_LEN]);
        Ok(Secret(bytes))
    }

    /// Whether this secret carries the tag `session_key` gives it (constant time).
    pub(crate) fn is_authentic(&self, session_key: &[u8], sid: &str, generation: u64) -> bool {
        let tag = tag(session_key, sid, generation, &self.0[..RANDOM_LEN]);
        digests_match(
            &self.0[RANDOM_LEN..],
            &tag.as_ref()[..SECRET_LEN - RANDOM_LEN],
        )
    }

    fn from_slice(bytes: &[u8]) -> Option<Secret> {
        let array: [u8; SECRET_LEN] = bytes.try_into().ok()?;
        Some(Secret(Zeroizing::new(array)))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.as_ref()
    }

    /// SHA-256 of the secret.
    pub(crate) fn hash(&self) -> SecretHash {
        let d = digest(&SHA256, self.bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// The `jti` of the access token minted with this refresh secret: a version-4-shaped UUID
    /// from HKDF, so that re-deriving the pair during the grace window gives the same token id.
    /// It reveals nothing about the secret (HKDF is one-way).
    pub(crate) fn access_jti(&self, sid: &str) -> Result<String> {
        let mut id = [0u8; 16];
        hkdf(
            self.bytes(),
            sid.as_bytes(),
            &[b"tollgate/v1/access-jti"],
            &mut id,
        )?;
        Ok(uuid::Builder::from_random_bytes(id)
            .into_uuid()
            .hyphenated()
            .to_string())
    }

    /// Seals `successor` (the next generation's secret) under a key only the holder of `self`
    /// (its parent) can derive: AES-256-GCM with a random nonce, under
    /// `HKDF-SHA256(ikm = parent secret, salt = sid, info = "tollgate/v1/seal" ‖ generation)`,
    /// with the sid and the successor's generation as associated data.
    ///
    /// Output: `nonce (12) ‖ ciphertext (32) ‖ tag (16)`.
    pub(crate) fn seal(
        &self,
        sid: &str,
        successor_generation: u64,
        successor: &Secret,
    ) -> Result<Vec<u8>> {
        let key = self.seal_key(sid, successor_generation)?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| random_error())?;
        let mut in_out = successor.bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(sid, successor_generation)),
            &mut in_out,
        )
        .map_err(|_| Error::bad_key("sealing the successor refresh secret failed"))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Opens what [`Secret::seal`] sealed; `None` when it does not open (wrong parent, altered).
    pub(crate) fn open(
        &self,
        sid: &str,
        successor_generation: u64,
        sealed: &[u8],
    ) -> Option<Secret> {
        if sealed.len() <= NONCE_LEN {
            return None;
        }
        let key = self.seal_key(sid, successor_generation).ok()?;
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let plain = key
            .open_in_place(
                nonce,
                Aad::from(aad(sid, successor_generation)),
                &mut in_out,
            )
            .ok()?;
        Secret::from_slice(plain)
    }

    fn seal_key(&self, sid: &str, successor_generation: u64) -> Result<LessSafeKey> {
        let mut key = Zeroizing::new([0u8; 32]);
        let generation = successor_generation.to_be_bytes();
        hkdf(
            self.bytes(),
            sid.as_bytes(),
            &[b"tollgate/v1/seal", &generation],
            key.as_mut(),
        )?;
        let unbound = UnboundKey::new(&AES_256_GCM, key.as_ref())
            .map_err(|_| Error::bad_key("cannot build the sealing key"))?;
        Ok(LessSafeKey::new(unbound))
    }
}

fn tag(session_key: &[u8], sid: &str, generation: u64, random: &[u8]) -> aws_lc_rs::hmac::Tag {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, session_key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(b"tollgate/v1/refresh-tag");
    ctx.update(&(sid.len() as u64).to_be_bytes());
    ctx.update(sid.as_bytes());
    ctx.update(&generation.to_be_bytes());
    ctx.update(random);
    ctx.sign()
}

fn aad(sid: &str, generation: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(REFRESH_TOKEN_PREFIX.len() + sid.len() + 8);
    aad.extend_from_slice(REFRESH_TOKEN_PREFIX.as_bytes());
    aad.extend_from_slice(sid.as_bytes());
    aad.extend_from_slice(&generation.to_be_bytes());
    aad
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf(ikm: &[u8], salt: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<()> {
    Salt::new(HKDF_SHA256, salt)
        .extract(ikm)
        .expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| Error::bad_key("key derivation failed"))
}

fn random_error() -> Error {
    Error::bad_key("the system random number generator failed")
}

/// A parsed refresh token.
pub(crate) struct RefreshToken {
    pub(crate) sid: String,
    pub(crate) generation: u64,
    pub(crate) secret: Secret,
}

impl RefreshToken {
    /// Formats `tgr1.<sid>.<generation>.<secret>`.
    pub(crate) fn format(sid: &str, generation: u64, secret: &Secret) -> String {
        format!(
            "{REFRESH_TOKEN_PREFIX}{sid}.{generation}.{}",
            URL_SAFE_NO_PAD.encode(secret.bytes())
        )
    }

    /// Parses a refresh token strictly.
    ///
    /// # Errors
    ///
    /// `wrong_token_type` for an access token (a compact JWS) or anything else that is not a
    /// refresh token but looks like a token; `malformed` for a `tgr1.` token that does not
    /// parse.
    pub(crate) fn parse(token: &str) -> Result<RefreshToken> {
        let Some(rest) = token.strip_prefix(REFRESH_TOKEN_PREFIX) else {
            return Err(not_a_refresh_token(token));
        };
        if token.len() > MAX_LEN {
            return Err(Error::malformed(format!(
                "refresh token is {} bytes, over the {MAX_LEN}-byte limit",
                token.len()
            )));
        }
        let bad = |what: &str| {
            Error::malformed(format!(
                "refresh token is not tgr1.<session id>.<generation>.<secret>: {what}"
            ))
        };
        let mut parts = rest.split('.');
        let (Some(sid), Some(generation), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("wrong number of parts"));
        };
        if !is_session_id(sid) {
            return Err(bad("the session id is not a lower-case UUID"));
        }
        let generation = parse_generation(generation).ok_or_else(|| bad("bad generation"))?;
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(secret)
                .map_err(|_| bad("the secret is not strict base64url"))?,
        );
        let secret = Secret::from_slice(&bytes).ok_or_else(|| bad("the secret is not 32 bytes"))?;
        Ok(RefreshToken {
            sid: sid.to_owned(),
            generation,
            secret,
        })
    }
}

/// The error for a token that is not a refresh token: an access token (three dot-separated
/// segments) is `wrong_token_type`, anything else `malformed`.
fn not_a_refresh_token(token: &str) -> Error {
    if TokenKind::of(token) == TokenKind::Access {
        Error::new(
            ErrorKind::WrongTokenType,
            "this is an access token, not a refresh token; pass the refresh_token of the pair",
        )
    } else {
        Error::malformed("not a refresh token; refresh tokens start with \"tgr1.\"")
    }
}

/// Whether `sid` is a canonical (lower-case, hyphenated) UUID, the form tollgate's session ids
/// take.
pub(crate) fn is_session_id(sid: &str) -> bool {
    crate::store::canonical_uuid(sid).is_some()
}

fn parse_generation(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 16 || text.starts_with('0') {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>()
        .ok()
        .filter(|g| (1..=MAX_GENERATION).contains(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "3f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b";
    const KEY: &[u8] = &[7; 32];

    #[test]
    fn only_the_session_key_makes_authentic_secrets() {
        let secret = Secret::generate(KEY, SID, 3).unwrap();
        assert!(secret.is_authentic(KEY, SID, 3));
        assert!(!secret.is_authentic(&[8; 32], SID, 3), "another key");
        assert!(!secret.is_authentic(KEY, SID, 4), "another generation");
        assert!(!secret.is_authentic(KEY, "4f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b", 3));
        let mut forged = Secret(Zeroizing::new([0u8; SECRET_LEN]));
        forged.0[..RANDOM_LEN].copy_from_slice(&secret.0[..RANDOM_LEN]);
        assert!(!forged.is_authentic(KEY, SID, 3), "a made-up tag");
    }

    #[test]
    fn round_trips_and_parses_strictly() {
        let secret = Secret::generate(KEY, SID, 1).unwrap();
        let token = RefreshToken::format(SID, 7, &secret);
        assert!(token.starts_with("tgr1.3f9a1c2e-"));
        let parsed = RefreshToken::parse(&token).unwrap();
        assert_eq!(parsed.sid, SID);
        assert_eq!(parsed.generation, 7);
        assert_eq!(parsed.secret.bytes(), secret.bytes());

        let b64 = URL_SAFE_NO_PAD.encode(secret.bytes());
        for bad in [
            format!("tgr1.{SID}.0.{b64}"),
            format!("tgr1.{SID}.07.{b64}"),
            format!("tgr1.{SID}.-1.{b64}"),
            format!("tgr1.{SID}.9007199254740993.{b64}"),
            format!("tgr1.{SID}.1.{b64}="),
            format!("tgr1.{SID}.1.{}", &b64[1..]),
            format!("tgr1.{}.1.{b64}", SID.to_uppercase()),
            format!("tgr1.{SID}.1.{b64}.x"),
            format!("tgr1.{SID}.1"),
            format!("tgr1.{SID}.1.{b64}{}", "A".repeat(300)),
        ] {
            let err = RefreshToken::parse(&bad).err().expect(&bad);
            assert_eq!(err.kind(), ErrorKind::Malformed, "{bad}");
        }
        let jws = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln";
        assert_eq!(
            RefreshToken::parse(jws).err().unwrap().kind(),
            ErrorKind::WrongTokenType
        );
        assert_eq!(
            RefreshToken::parse("garbage").err().unwrap().kind(),
            ErrorKind::Malformed
        );
    }

    #[test]
    fn only_the_parent_opens_the_sealed_successor() {
        let parent = Secret::generate(KEY, SID, 1).unwrap();
        let child = Secret::generate(KEY, SID, 1).unwrap();
        let sealed = parent.seal(SID, 2, &child).unwrap();
        assert_eq!(sealed.len(), 12 + 32 + 16);
        assert!(
            !sealed
                .windows(8)
                .any(|w| child.bytes().windows(8).any(|c| c == w))
        );
        let opened = parent.open(SID, 2, &sealed).unwrap();
        assert_eq!(opened.bytes(), child.bytes());
        // Another secret, another session or another generation cannot open it.
        assert!(child.open(SID, 2, &sealed).is_none());
        assert!(
            parent
                .open("4f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b", 2, &sealed)
                .is_none()
        );
        assert!(parent.open(SID, 3, &sealed).is_none());
        let mut altered = sealed.clone();
        altered[20] ^= 1;
        assert!(parent.open(SID, 2, &altered).is_none());
        assert!(parent.open(SID, 2, &sealed[..12]).is_none());
    }

    #[test]
    fn jti_is_a_stable_uuid_per_secret() {
        let secret = Secret::generate(KEY, SID, 1).unwrap();
        let a = secret.access_jti(SID).unwrap();
        assert_eq!(a, secret.access_jti(SID).unwrap());
        assert!(crate::store::canonical_uuid(&a).is_some());
        assert_ne!(
            a,
            Secret::generate(KEY, SID, 1)
                .unwrap()
                .access_jti(SID)
                .unwrap()
        );
        assert!(digests_match(&secret.hash(), &secret.hash()));
        assert!(!digests_match(&secret.hash(), &[0; 32]));
    }
}
