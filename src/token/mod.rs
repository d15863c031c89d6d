//! Minting and the verification pipeline (DESIGN §3), synchronous and runtime-free:
//!
//! refresh-token prefix (`tgr1.` is `wrong_token_type`) → size check (16 KiB) → split into
//! exactly three strict base64url segments → header (strict JSON; `alg` from the allow-list,
//! never `none`; unknown `crit` refused; `jwk`/`jku`/`x5u`/`x5c` ignored, never fetched) → key
//! by `kid` (its state must verify) → the algorithm must be one the key allows → signature
//! (jsonwebtoken) → claims: `typ`, time against the injected clock, `iss`, `aud` — every failed
//! claim check is collected.
//!
//! Revocation is the store's part, layered on top of this.

use std::sync::Once;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::claims::{Claims, MintOptions};
use crate::clock::{Clock, format_duration};
use crate::error::{Error, ErrorKind, Result, quoted};
use crate::json::parse_object;
use crate::keys::{KeySet, KeyState, Keyring, Namespace, VerifyingKey};
use crate::validate::{self, ACCESS_TOKEN_TYPE, Origin, Rules, VerifyOptions};

mod kind;

pub use kind::{REFRESH_TOKEN_PREFIX, TokenKind};

/// Tokens larger than this are rejected before any decoding: 16 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

static PROVIDER: Once = Once::new();

/// Installs jsonwebtoken's aws-lc-rs provider once. An application that installed a provider
/// already is not an error: the first one stays.
pub fn install_crypto_provider() {
    PROVIDER.call_once(|| {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    });
}

/// The protected header of a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The signature algorithm.
    pub alg: Algorithm,
    /// The key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The token type (`at+jwt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// A token that passed verification.
#[derive(Debug, Clone)]
pub struct Verified<C = Map<String, Value>> {
    /// The header.
    pub header: Header,
    /// The claims.
    pub claims: Claims<C>,
    /// The state of the key that signed it.
    pub key_state: KeyState,
    /// The namespace of the key that verified it: every id it carries is scoped to it.
    pub namespace: Namespace,
}

/// A freshly minted token and what it says.
#[derive(Clone)]
pub struct Minted {
    /// The compact JWS. Secret: never log it.
    pub token: String,
    /// The signing key's kid.
    pub kid: String,
    /// The claims it carries.
    pub claims: Claims,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("token", &"[redacted]")
            .field("kid", &self.kid)
            .field("claims", &self.claims)
            .finish()
    }
}

/// Mints an access token signed by the keyring's active key.
///
/// # Errors
///
/// [`ErrorKind::BadKey`] when there is no active key;
/// [`ErrorKind::Usage`] for a zero TTL, a TTL beyond the keyring's
/// `max_ttl`, or a `kid` that is not the active key.
///
/// # Examples
///
/// ```
/// use tollgate::{mint, verify, Algorithm, Clock, Keyring, MintOptions, VerifyOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let clock = Clock::fixed(1_800_000_000);
/// let mut keyring = Keyring::init(dir.path().join("keys"))?;
/// keyring.generate(Algorithm::EdDSA, None, &clock)?;
/// let minted = mint(&keyring, &MintOptions::new("alice"), &clock)?;
/// let verified = verify::<serde_json::Value>(&minted.token, keyring.key_set(), &VerifyOptions::new(), &clock)?;
/// assert_eq!(verified.claims.sub.as_deref(), Some("alice"));
/// # Ok::<(), tollgate::Error>(())
/// ```
pub fn mint(keyring: &Keyring, options: &MintOptions, clock: &Clock) -> Result<Minted> {
    install_crypto_provider();
    let signer = keyring.signer(options.kid.as_deref())?;
    let ttl = i64::try_from(options.ttl.as_secs()).unwrap_or(i64::MAX);
    if ttl <= 0 {
        return Err(Error::usage("token lifetime must be at least 1s"));
    }
    if ttl > keyring.max_ttl() {
        return Err(Error::usage(format!(
            "token lifetime {} exceeds the keyring's max_ttl of {}; use a shorter --ttl or raise max_ttl in {}",
            format_duration(options.ttl),
            format_duration(std::time::Duration::from_secs(
                keyring.max_ttl().unsigned_abs()
            )),
            keyring.dir().join("keyring.json").display()
        )));
    }
    if options.sub.is_empty() {
        return Err(Error::usage("the subject (sub) must not be empty"));
    }
    let now = clock.now();
    let claims = Claims {
        iss: options.iss.clone(),
        sub: Some(options.sub.clone()),
        aud: options.aud.clone(),
        exp: now.saturating_add(ttl),
        nbf: Some(now),
        iat: Some(now),
        jti: Some(
            options
                .jti
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        ),
        sid: Some(
            options
                .sid
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        ),
        auth_time: options.auth_time,
        extra: options.extra.clone(),
    };
    let header = Header {
        alg: signer.alg,
        kid: Some(signer.kid.clone()),
        typ: Some(ACCESS_TOKEN_TYPE.into()),
    };
    let token = sign(&header, &claims, signer.alg, &signer.key)?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Error::usage(format!(
            "the token would be {} bytes, over the {MAX_TOKEN_BYTES}-byte limit verifiers enforce; carry fewer application claims",
            token.len()
        )));
    }
    Ok(Minted {
        token,
        kid: signer.kid.clone(),
        claims,
    })
}

/// Signs `header.claims` with a jsonwebtoken key.
pub(crate) fn sign(
    header: &impl Serialize,
    claims: &impl Serialize,
    alg: Algorithm,
    key: &jsonwebtoken::EncodingKey,
) -> Result<String> {
    let mut message = b64_json(header)?;
    message.push('.');
    message.push_str(&b64_json(claims)?);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg.to_jwt())
        .map_err(|e| Error::bad_key(format!("signing with {alg} failed")).with_source(e))?;
    message.push('.');
    message.push_str(&signature);
    Ok(message)
}

fn b64_json(value: &impl Serialize) -> Result<String> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| Error::usage(format!("claims do not serialise: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The three segments of a compact JWS after the structural checks.
pub(crate) struct Parts<'a> {
    pub(crate) header_b64: &'a str,
    pub(crate) payload_b64: &'a str,
    pub(crate) signature_b64: &'a str,
}

/// The `kid` of a token's header, read without verifying anything (to choose which keys to
/// verify it with).
///
/// # Errors
///
/// `malformed` for a token that is not three segments or whose header is not a valid one.
#[cfg_attr(not(feature = "remote"), allow(dead_code))] // only a gate with remote issuers asks
pub(crate) fn header_kid(token: &str) -> Result<Option<String>> {
    Ok(parse_header(split(token)?.header_b64)?.kid)
}

/// Size check and split into exactly three non-empty segments. A refresh token is recognised by
/// its prefix first and refused as `wrong_token_type`: it can never pass as an access token.
pub(crate) fn split(token: &str) -> Result<Parts<'_>> {
    split_with(token, false)
}

/// [`split`], and with `unsigned` an empty signature segment too (only for reading a token
/// without verifying it: `inspect`).
pub(crate) fn split_with(token: &str, unsigned: bool) -> Result<Parts<'_>> {
    if TokenKind::is_refresh(token) {
        return Err(Error::new(
            ErrorKind::WrongTokenType,
            "this is a refresh token, not an access token; exchange it for a new pair with `tollgate session refresh`",
        ));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Error::malformed(format!(
            "token is {} bytes, over the {MAX_TOKEN_BYTES}-byte limit",
            token.len()
        )));
    }
    let mut it = token.split('.');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => {
            if s.is_empty() && !unsigned {
                return Err(Error::malformed(
                    "token has no signature; unsigned tokens are never accepted",
                ));
            }
            Ok(Parts {
                header_b64: h,
                payload_b64: p,
                signature_b64: s,
            })
        }
        _ => Err(Error::malformed(format!(
            "token must have exactly three non-empty dot-separated segments, found {}",
            token.split('.').count()
        ))),
    }
}

/// Strict base64url (no padding, no trailing bits) then strict JSON object.
pub(crate) fn decode_segment(segment: &str, what: &str) -> Result<Map<String, Value>> {
    parse_json(&decode_b64(segment, what)?, what)
}

/// Strict base64url: no padding, no trailing bits.
fn decode_b64(segment: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).map_err(|e| {
        Error::malformed(format!(
            "{what} is not strict base64url without padding ({e})"
        ))
    })
}

/// Strict JSON object with unique member names.
fn parse_json(bytes: &[u8], what: &str) -> Result<Map<String, Value>> {
    parse_object(bytes)
        .map_err(|e| Error::malformed(format!("{what} is not a valid JSON object: {e}")))
}

/// The header members the pipeline reads.
pub(crate) struct RawHeader {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
}

/// The header members the pipeline reads, by position in [`parse_header`]'s split.
const HEADER: [&str; 4] = ["alg", "kid", "typ", "crit"];

/// Strict base64url, strict JSON (no duplicate members), then the members tollgate reads.
/// Other members (`jwk`, `jku`, `x5u`, `x5c`, …) are parsed for strictness and ignored: a key
/// named in a header is never fetched or trusted.
pub(crate) fn parse_header(segment: &str) -> Result<RawHeader> {
    let bytes = decode_b64(segment, "header")?;
    let split = crate::json::parse_split(&bytes, &HEADER)
        .map_err(|e| Error::malformed(format!("header is not a valid JSON object: {e}")))?;
    let [alg, kid, typ, crit] = split.known;
    let alg = match alg {
        Some(Value::String(a)) if a.eq_ignore_ascii_case("none") => {
            return Err(Error::new(
                ErrorKind::DisallowedAlg,
                "alg \"none\" (unsigned) is never accepted",
            )
            .with_context("alg", a));
        }
        Some(Value::String(a)) => Algorithm::from_header(&a).ok_or_else(|| {
            Error::new(
                ErrorKind::DisallowedAlg,
                format!("algorithm {} is not supported", quoted(&a)),
            )
            // The value as sent (JSON escapes it), bounded: it comes from an untrusted token.
            .with_context("alg", a.chars().take(64).collect::<String>())
        })?,
        Some(_) => return Err(Error::malformed("header `alg` must be a string")),
        None => return Err(Error::malformed("header has no `alg`")),
    };
    if let Some(crit) = crit {
        let names: Vec<&str> = match &crit {
            Value::Array(items) if !items.is_empty() => {
                items.iter().filter_map(Value::as_str).collect()
            }
            _ => {
                return Err(Error::malformed(
                    "header `crit` must be a non-empty array of names",
                ));
            }
        };
        return Err(Error::malformed(format!(
            "header marks [{}] as critical, and tollgate understands no critical extension",
            names
                .iter()
                .map(|n| quoted(n))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let string = |value: Option<Value>, name: &str| -> Result<Option<String>> {
        match value {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::malformed(format!(
                "header `{name}` must be a string"
            ))),
        }
    };
    Ok(RawHeader {
        alg,
        kid: string(kid, "kid")?,
        typ: string(typ, "typ")?,
    })
}

fn unknown_kid(kid: Option<&str>) -> Error {
    match kid {
        Some(kid) => Error::new(
            ErrorKind::UnknownKid,
            format!("no key with kid {} in the keyring; see `tollgate keys list` or import the issuer's JWKS", quoted(kid)),
        )
        .with_context("kid", quoted(kid).trim_matches('"').to_string()),
        None => Error::new(
            ErrorKind::UnknownKid,
            "token has no kid; it verifies only against an explicit key (verify --key FILE)",
        ),
    }
}

/// The keys a token may be checked against: by kid; kid-less keys of an explicit set as a fallback.
fn candidates<'k>(keys: &'k KeySet, kid: Option<&str>) -> Result<Vec<&'k VerifyingKey>> {
    if let Some(kid) = kid.filter(|k| keys.is_ambiguous(k)) {
        return Err(Error::new(
            ErrorKind::UnknownKid,
            format!(
                "several keys carry kid {}, so it picks none of them; give each key its own kid",
                quoted(kid)
            ),
        )
        .with_context("kid", kid.to_string()));
    }
    if let Some(key) = kid.and_then(|k| keys.get(k)) {
        if key.state() == KeyState::Retired {
            return Err(Error::new(
                ErrorKind::RetiredKid,
                format!(
                    "key {} was retired; tokens it signed are no longer accepted",
                    key.kid().unwrap_or_default()
                ),
            )
            .with_context("kid", key.kid().unwrap_or_default()));
        }
        return Ok(vec![key]);
    }
    let fallback: Vec<&VerifyingKey> = keys
        .iter()
        .filter(|k| keys.is_explicit() && (k.kid().is_none() || kid.is_none()))
        .collect();
    if fallback.is_empty() {
        return Err(unknown_kid(kid));
    }
    Ok(fallback)
}

/// Verifies an access token against `keys` and returns its header and claims.
///
/// # Errors
///
/// The first failed check, with every other failed claim check in [`Error::all`]. Kinds:
/// `malformed`, `disallowed_alg`, `unknown_kid`, `retired_kid`, `bad_signature`,
/// `wrong_token_type`, `expired`, `not_yet_valid`, `issued_in_future`, `missing_claim`,
/// `bad_issuer`, `bad_audience`. No input makes it panic.
///
/// # Examples
///
/// See [`mint`].
pub fn verify<C: DeserializeOwned>(
    token: &str,
    keys: &KeySet,
    options: &VerifyOptions,
    clock: &Clock,
) -> Result<Verified<C>> {
    verify_inner(token, keys, options, clock, Checks::All)
}

/// `verified` with its application claims read as `C`: moved as they are when `C` is the
/// default JSON object, deserialized from it otherwise.
///
/// # Errors
///
/// [`ErrorKind::Malformed`] when the claims do not have `C`'s shape.
pub(crate) fn with_claims_as<C: DeserializeOwned + 'static>(
    verified: Verified,
) -> Result<Verified<C>> {
    let mut slot = Some(verified);
    if let Some(same) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Verified<C>>>()
        && let Some(verified) = same.take()
    {
        return Ok(verified);
    }
    let Some(verified) = slot else {
        return Err(Error::malformed("application claims were already taken"));
    };
    let c = verified.claims;
    let extra = C::deserialize(Value::Object(c.extra)).map_err(|e| {
        Error::malformed(format!(
            "application claims do not have the expected shape: {e}"
        ))
    })?;
    Ok(Verified {
        header: verified.header,
        claims: Claims {
            iss: c.iss,
            sub: c.sub,
            aud: c.aud,
            exp: c.exp,
            nbf: c.nbf,
            iat: c.iat,
            jti: c.jti,
            sid: c.sid,
            auth_time: c.auth_time,
            extra,
        },
        key_state: verified.key_state,
        namespace: verified.namespace,
    })
}

/// Which claim checks run after the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checks {
    /// Everything: type, presence, time, issuer, audience.
    All,
    /// Type and presence only: for revoking a token, which may have expired or be meant for
    /// another audience.
    Revocation,
}

pub(crate) fn verify_inner<C: DeserializeOwned>(
    token: &str,
    keys: &KeySet,
    options: &VerifyOptions,
    clock: &Clock,
    checks: Checks,
) -> Result<Verified<C>> {
    install_crypto_provider();
    let parts = split(token)?;
    let header = parse_header(parts.header_b64)?;
    // Structure first: the payload must be strict base64url before any key is tried; its JSON is
    // read only once the signature has been checked.
    let payload = decode_b64(parts.payload_b64, "payload")?;
    let candidates = candidates(keys, header.kid.as_deref())?;
    let mut allowed = candidates
        .iter()
        .filter(|k| k.algorithms().contains(&header.alg))
        .filter(|_| options.algorithms.is_empty() || options.algorithms.contains(&header.alg))
        .peekable();
    if allowed.peek().is_none() {
        let expected: Vec<&str> = candidates
            .iter()
            .flat_map(|k| k.algorithms().iter().map(|a| a.as_str()))
            .collect();
        // Say which side refused: the accepted algorithms (--alg), the key, or both together.
        let accepted: Vec<&str> = options.algorithms.iter().map(|a| a.as_str()).collect();
        let alg = header.alg;
        let message = if !accepted.is_empty() && !options.algorithms.contains(&alg) {
            format!(
                "token uses {alg}, which the accepted algorithms (--alg) [{}] exclude; its key \
                 is for [{}]: accept {alg} too if that key is the one you expect",
                accepted.join(", "),
                expected.join(", ")
            )
        } else if expected.is_empty() {
            // Keys narrowed by the accepted algorithms to none: they are for other algorithms.
            format!(
                "token uses {alg}, but no key given is for an accepted algorithm (--alg) [{}]; \
                 the keys are for other algorithms than the token's",
                accepted.join(", ")
            )
        } else {
            format!(
                "token uses {alg}, but its key allows only [{}]",
                expected.join(", ")
            )
        };
        return Err(
            Error::new(ErrorKind::DisallowedAlg, message).with_context("alg", header.alg.as_str())
        );
    }
    let signed = &token[..parts.header_b64.len() + 1 + parts.payload_b64.len()];
    let mut signer: Option<&VerifyingKey> = None;
    for key in allowed {
        match jsonwebtoken::crypto::verify(
            parts.signature_b64,
            signed.as_bytes(),
            &key.key,
            header.alg.to_jwt(),
        ) {
            Ok(true) => {
                signer = Some(key);
                break;
            }
            Ok(false) => {}
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::Base64(_)) => {
                return Err(Error::malformed(
                    "signature is not strict base64url without padding",
                ));
            }
            Err(_) => {}
        }
    }
    let Some(signer) = signer else {
        return Err(Error::new(
            ErrorKind::BadSignature,
            format!(
                "signature does not match {}; the token was altered or signed by another key",
                header.kid.as_deref().map_or_else(
                    || "the given key".to_string(),
                    |k| format!("key {}", quoted(k))
                )
            ),
        ));
    };
    let split = crate::json::parse_split(&payload, &validate::REGISTERED)
        .map_err(|e| Error::malformed(format!("payload is not a valid JSON object: {e}")))?;
    let mut errors = Vec::new();
    let origin = match signer.namespace() {
        Namespace::Own => Origin::Own,
        Namespace::Issuer(iss) => Origin::Issuer(iss),
        Namespace::Key(_) => Origin::Key {
            imported: !keys.is_explicit(),
        },
    };
    let rules = Rules::new(origin, options);
    rules.check_type(header.typ.as_deref(), &mut errors);
    let registered = validate::registered_from(split.known, &mut errors);
    match checks {
        Checks::All => {
            let now = clock.now();
            rules.check_claims(&registered, &split.rest, now, &mut errors);
            validate::check_lifetime(&registered, signer.lifetime(), options, now, &mut errors);
        }
        Checks::Revocation => rules.check_presence(&registered, &split.rest, &mut errors),
    }
    let extra = C::deserialize(Value::Object(split.rest));
    if let Err(e) = &extra {
        errors.push(Error::malformed(format!(
            "application claims do not have the expected shape: {e}"
        )));
    }
    if !errors.is_empty() {
        let first = errors.remove(0);
        return Err(first.with_others(errors));
    }
    let (Some(exp), Ok(extra)) = (registered.exp, extra) else {
        // Every profile requires `exp` and a failed shape is an error above: not reached.
        return Err(Error::new(
            ErrorKind::MissingClaim,
            "token lacks a required claim",
        ));
    };
    Ok(Verified {
        header: Header {
            alg: header.alg,
            kid: header.kid,
            typ: header.typ,
        },
        claims: Claims {
            iss: registered.iss,
            sub: registered.sub,
            aud: registered.aud,
            exp,
            nbf: registered.nbf,
            iat: registered.iat,
            jti: registered.jti,
            sid: registered.sid,
            // Only tollgate's own sessions set it; another issuer's is kept but never trusted
            // by the revocation check (see `store::covers`).
            auth_time: registered.auth_time,
            extra,
        },
        key_state: signer.state(),
        namespace: signer.namespace().clone(),
    })
}
