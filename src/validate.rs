//! [`VerifyOptions`] and the claim checks of the verification pipeline: token type, time
//! (against the injected [`Clock`](crate::Clock), never the system clock), issuer and audience.
//!
//! Two profiles, chosen by where the verifying key came from (never by the token):
//!
//! - **tollgate's own tokens** (keys generated in the keyring): `typ` must be `at+jwt`
//!   (RFC 9068; `application/at+jwt` too, case-insensitive); `exp`, `iat`, `sub` and `jti` are
//!   required; a token lives at most the keyring's `max_ttl` (`exp - iat`) and is not newer than
//!   the moment its key stopped signing (plus the leeway).
//! - **other issuers' tokens** (`--key`, `--secret`, imported keys, a remote JWK Set): the
//!   generic RFC 7519 profile ([`Profile::Rfc7519`], the default): `typ` absent, `JWT` or
//!   `at+jwt` (case-insensitive, with or without `application/`); any other type (a refresh,
//!   DPoP, logout or ID-token type) is refused, since a token of another kind signed by the same
//!   key must not pass for an access token (RFC 8725 §3.11); `exp` is required (a token that
//!   never expires cannot be revoked for a bounded time), the other registered claims are
//!   checked when present; and `exp` may be at most 24 hours from now. [`Profile::Rfc9068`]
//!   requires `typ: at+jwt` and the claims of RFC 9068 §2.2 (`iss`, `exp`, `aud`, `sub`,
//!   `client_id`, `iat`, `jti`). Both are tightened, never loosened, by
//!   [`VerifyOptions::with_required_claim`] and [`VerifyOptions::with_type`].
//!
//! The rest applies to both:
//! - `exp`/`nbf`/`iat` must be JSON numbers. A token is expired when `now >= exp + leeway`, not
//!   yet valid when `now + leeway < nbf`, and issued in the future when `iat > now + leeway`.
//!   The leeway defaults to 30 seconds; a verifier with a store may use any leeway up to the
//!   store's maximum (5 minutes by default). So a revocation kept for a token's longest life
//!   plus the maximum leeway outlives every token it covers.
//! - Issuer: a key imported for an issuer (`keys import --iss`, a trusted remote issuer) accepts
//!   only tokens whose `iss` is that issuer. Otherwise, when an issuer is configured
//!   ([`VerifyOptions::with_issuer`]), `iss` must be present and equal; but a key imported into
//!   the keyring without an issuer refuses a token whose `iss` is the configured one (the
//!   keyring's own): it would pass for one of tollgate's tokens.
//! - Audience: when audiences are configured, `aud` must be present and name one of them.
//!   When none are configured, a token that carries an `aud` is rejected (`bad_audience`): it was
//!   meant for someone who identifies as that audience (RFC 7519 §4.1.3; RFC 8725 §3.9).

use std::time::Duration;

use serde_json::Value;

use crate::alg::Algorithm;
use crate::claims::MintOptions;
use crate::clock::format_time;
use crate::error::{Error, ErrorKind, quoted};
use crate::keys::LifetimeBound;

/// Default clock-skew leeway: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The `typ` of access tokens.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The rules another issuer's tokens are held to (tollgate's own tokens always get its strict
/// profile). See the [module docs](self).
///
/// # Examples
///
/// ```
/// use tollgate::validate::Profile;
/// assert_eq!(Profile::default(), Profile::Rfc7519);
/// assert_eq!("rfc9068".parse::<Profile>()?, Profile::Rfc9068);
/// assert!("jwt".parse::<Profile>().is_err());
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// RFC 7519: `typ` absent, `JWT` or `at+jwt`; `exp` required; the rest checked when
    /// present.
    #[default]
    Rfc7519,
    /// RFC 9068 access tokens: `typ: at+jwt`; `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`
    /// and `jti` required.
    Rfc9068,
}

impl Profile {
    /// The profile's name, as `--profile` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Rfc7519 => "rfc7519",
            Profile::Rfc9068 => "rfc9068",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Profile {
    type Err = Error;

    fn from_str(s: &str) -> Result<Profile, Error> {
        match s.to_ascii_lowercase().as_str() {
            "rfc7519" => Ok(Profile::Rfc7519),
            "rfc9068" => Ok(Profile::Rfc9068),
            _ => Err(Error::usage(format!(
                "unknown profile {}; use rfc7519 (generic JWT) or rfc9068 (access tokens)",
                quoted(s)
            ))),
        }
    }
}

/// The claims tollgate's own tokens must carry.
const OWN_REQUIRED: [&str; 4] = ["exp", "iat", "sub", "jti"];
/// The claims RFC 9068 §2.2 requires.
const RFC9068_REQUIRED: [&str; 7] = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"];

/// How tokens are verified. The defaults are the strict ones.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tollgate::VerifyOptions;
/// let options = VerifyOptions::new()
///     .with_audience("api")
///     .with_issuer("https://auth.example")
///     .with_leeway(Duration::from_secs(5));
/// assert_eq!(options.leeway(), Duration::from_secs(5));
/// assert_eq!(VerifyOptions::new().leeway(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub(crate) audiences: Vec<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) leeway: Duration,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) profile: Profile,
    pub(crate) required: Vec<String>,
    pub(crate) typ: Option<String>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions::new()
    }
}

impl VerifyOptions {
    /// No audience, no issuer, 30 s leeway, every algorithm the key allows.
    pub fn new() -> Self {
        VerifyOptions {
            audiences: Vec::new(),
            issuer: None,
            leeway: DEFAULT_LEEWAY,
            algorithms: Vec::new(),
            profile: Profile::Rfc7519,
            required: Vec::new(),
            typ: None,
        }
    }

    /// Accepts tokens for this audience (call again to accept several).
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Requires this issuer.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat`. Defaults to 30 seconds.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Narrows the algorithms accepted (on top of each key's own algorithm).
    pub fn with_algorithm(mut self, alg: Algorithm) -> Self {
        self.algorithms.push(alg);
        self
    }

    /// The profile for other issuers' tokens (tollgate's own always get the strict one).
    /// Defaults to [`Profile::Rfc7519`].
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Requires a claim (registered or application) on top of the profile's (call again for
    /// more).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate::VerifyOptions;
    /// let options = VerifyOptions::new().with_required_claim("sub").with_required_claim("email");
    /// assert_eq!(options.required_claims(), ["sub", "email"]);
    /// ```
    pub fn with_required_claim(mut self, claim: impl Into<String>) -> Self {
        self.required.push(claim.into());
        self
    }

    /// Requires this `typ` (compared case-insensitively, with or without `application/`),
    /// for every token.
    pub fn with_type(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The profile for other issuers' tokens.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The claims required on top of the profile's.
    pub fn required_claims(&self) -> &[String] {
        &self.required
    }

    /// The accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The configured issuer.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The leeway.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// `mint` with this verifier's issuer and audiences where it has none of its own, so that
    /// what is minted passes this verifier: the one place the defaults of the CLI's global
    /// `--issuer`/`--audience` (and of a [`Gate`](crate::Gate)'s options) reach a token.
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate::{MintOptions, VerifyOptions};
    /// let options = VerifyOptions::new().with_audience("api").with_issuer("https://auth.example");
    /// let mint = options.mint_defaults(MintOptions::new("alice"));
    /// assert_eq!(mint.audiences(), ["api"]);
    /// assert_eq!(mint.issuer(), Some("https://auth.example"));
    /// let own = options.mint_defaults(MintOptions::new("bob").with_audience("billing"));
    /// assert_eq!(own.audiences(), ["billing"]);
    /// ```
    pub fn mint_defaults(&self, mut mint: MintOptions) -> MintOptions {
        if mint.iss.is_none() {
            mint.iss.clone_from(&self.issuer);
        }
        if mint.aud.is_empty() {
            mint.aud.clone_from(&self.audiences);
        }
        mint
    }

    /// Whether [`mint_defaults`](Self::mint_defaults) would change `mint`.
    pub(crate) fn fills(&self, mint: &MintOptions) -> bool {
        (mint.iss.is_none() && self.issuer.is_some())
            || (mint.aud.is_empty() && !self.audiences.is_empty())
    }

    /// The leeway in whole seconds.
    pub fn leeway_secs(&self) -> i64 {
        i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX)
    }
}

/// Registered claims read from a payload (application claims stay in the map).
#[derive(Debug, Default)]
pub(crate) struct Registered {
    pub(crate) iss: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) aud: Vec<String>,
    pub(crate) exp: Option<i64>,
    pub(crate) nbf: Option<i64>,
    pub(crate) iat: Option<i64>,
    pub(crate) jti: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) auth_time: Option<i64>,
}

fn missing(claim: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::MissingClaim,
        format!("token has no `{claim}` claim; {why}"),
    )
    .with_context("claim", claim)
}

fn malformed_claim(claim: &str, what: &str) -> Error {
    Error::malformed(format!("claim `{claim}` must be {what}")).with_context("claim", claim)
}

fn time_claim(value: Option<Value>, claim: &str, errors: &mut Vec<Error>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .map(|f| f.floor().clamp(i64::MIN as f64, i64::MAX as f64) as i64)
        }),
        _ => {
            errors.push(malformed_claim(claim, "a JSON number (NumericDate)"));
            None
        }
    }
}

/// An identifier claim (`sub`, `jti`, `sid`): a string, and not empty (an empty id names
/// nothing: it could be neither revoked nor told apart from another token's).
fn id_claim(value: Option<Value>, claim: &str, errors: &mut Vec<Error>) -> Option<String> {
    let id = string_claim(value, claim, errors)?;
    if id.is_empty() {
        errors.push(malformed_claim(claim, "a non-empty string"));
        return None;
    }
    Some(id)
}

fn string_claim(value: Option<Value>, claim: &str, errors: &mut Vec<Error>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s),
        _ => {
            errors.push(malformed_claim(claim, "a string"));
            None
        }
    }
}

/// The registered claim names, in the order [`registered_from`] expects them.
pub(crate) const REGISTERED: [&str; 9] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "sid",
    "auth_time",
];

/// Reads the registered claims (indexed like [`REGISTERED`]), recording type errors.
pub(crate) fn registered_from(values: [Option<Value>; 9], errors: &mut Vec<Error>) -> Registered {
    let [iss, sub, aud, exp, nbf, iat, jti, sid, auth_time] = values;
    let aud = match aud {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        Some(_) => {
            errors.push(malformed_claim("aud", "a string or an array of strings"));
            Vec::new()
        }
    };
    Registered {
        iss: string_claim(iss, "iss", errors),
        sub: id_claim(sub, "sub", errors),
        aud,
        exp: time_claim(exp, "exp", errors),
        nbf: time_claim(nbf, "nbf", errors),
        iat: time_claim(iat, "iat", errors),
        jti: id_claim(jti, "jti", errors),
        sid: id_claim(sid, "sid", errors),
        auth_time: time_claim(auth_time, "auth_time", errors),
    }
}

/// Where the key that verified a token came from: what decides its profile and issuer rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin<'a> {
    /// Generated in the keyring: tollgate's own token.
    Own,
    /// A key bound to an issuer (`keys import --iss`, a trusted remote issuer).
    Issuer(&'a str),
    /// A key of no configured issuer: `imported` into the keyring, or given explicitly
    /// (`--key`, `--secret`, a JWK Set fetched for this verification).
    Key {
        /// Kept in the keyring (rather than given for this verification).
        imported: bool,
    },
}

/// The rules one token is held to: its origin and the options.
pub(crate) struct Rules<'a> {
    origin: Origin<'a>,
    options: &'a VerifyOptions,
}

/// `typ` compared as RFC 7515 §4.1.9 says: case-insensitively, `application/` optional.
fn same_type(a: &str, b: &str) -> bool {
    let strip = |t: &str| {
        let lower = t.to_ascii_lowercase();
        lower
            .strip_prefix("application/")
            .map_or_else(|| lower.clone(), str::to_string)
    };
    strip(a) == strip(b)
}

impl<'a> Rules<'a> {
    pub(crate) fn new(origin: Origin<'a>, options: &'a VerifyOptions) -> Rules<'a> {
        Rules { origin, options }
    }

    /// Whether the strict access-token rules apply (tollgate's own tokens, or RFC 9068).
    fn access_token_profile(&self) -> bool {
        self.origin == Origin::Own || self.options.profile == Profile::Rfc9068
    }

    /// The claims that must be present, each with why.
    fn required(&self) -> Vec<(&str, String)> {
        let profile: &[&str] = match (self.origin, self.options.profile) {
            (Origin::Own, _) => &OWN_REQUIRED,
            (_, Profile::Rfc9068) => &RFC9068_REQUIRED,
            (_, Profile::Rfc7519) => &["exp"],
        };
        let why = match (self.origin, self.options.profile) {
            (Origin::Own, _) => "tollgate requires exp, iat, sub and jti".to_string(),
            (_, Profile::Rfc9068) => {
                "RFC 9068 access tokens carry iss, exp, aud, sub, client_id, iat and jti \
                 (--profile rfc9068)"
                    .to_string()
            }
            (_, Profile::Rfc7519) => {
                "a token that never expires could never be revoked for a bounded time".to_string()
            }
        };
        let mut out: Vec<(&str, String)> = profile.iter().map(|c| (*c, why.clone())).collect();
        for claim in &self.options.required {
            if !out.iter().any(|(c, _)| c == claim) {
                out.push((claim, "it is required (--require)".to_string()));
            }
        }
        out
    }

    /// Checks the header's `typ`.
    pub(crate) fn check_type(&self, typ: Option<&str>, errors: &mut Vec<Error>) {
        let (ok, expected) = match (&self.options.typ, self.access_token_profile()) {
            (Some(want), _) => (typ.is_some_and(|t| same_type(t, want)), format!("{want:?}")),
            (None, true) => (
                typ.is_some_and(|t| same_type(t, ACCESS_TOKEN_TYPE)),
                "\"at+jwt\", an access token".to_string(),
            ),
            (None, false) => (
                typ.is_none_or(|t| same_type(t, "JWT") || same_type(t, ACCESS_TOKEN_TYPE)),
                "none, \"JWT\" or \"at+jwt\" (another type is another kind of token)".to_string(),
            ),
        };
        if !ok {
            errors.push(
                Error::new(
                    ErrorKind::WrongTokenType,
                    format!(
                        "token type is {}, expected {expected}",
                        typ.map_or_else(|| "missing".to_string(), quoted)
                    ),
                )
                .with_context("typ", typ.unwrap_or_default()),
            );
        }
    }

    /// Checks that the required claims are present (registered ones in `claims`, application
    /// ones in `rest`). Alone, for revoking a token, which may have expired or be meant for
    /// another audience.
    pub(crate) fn check_presence(
        &self,
        claims: &Registered,
        rest: &serde_json::Map<String, Value>,
        errors: &mut Vec<Error>,
    ) {
        for (claim, why) in self.required() {
            let present = match claim {
                "iss" => claims.iss.is_some(),
                "sub" => claims.sub.is_some(),
                "aud" => !claims.aud.is_empty(),
                "exp" => claims.exp.is_some(),
                "nbf" => claims.nbf.is_some(),
                "iat" => claims.iat.is_some(),
                "jti" => claims.jti.is_some(),
                "sid" => claims.sid.is_some(),
                "auth_time" => claims.auth_time.is_some(),
                other => rest.contains_key(other),
            };
            if !present {
                let why = match claim {
                    "iss" if self.options.issuer.is_some() => {
                        "an issuer is expected (--iss, --issuer or TOLLGATE_ISSUER)".to_string()
                    }
                    _ => why,
                };
                errors.push(missing(claim, &why));
            }
        }
    }

    /// Checks presence, time, issuer and audience.
    pub(crate) fn check_claims(
        &self,
        claims: &Registered,
        rest: &serde_json::Map<String, Value>,
        now: i64,
        errors: &mut Vec<Error>,
    ) {
        check_time(claims, self.options, now, errors);
        self.check_presence(claims, rest, errors);
        self.check_issuer(claims, errors);
        check_audience(claims, self.options, errors);
    }

    fn check_issuer(&self, claims: &Registered, errors: &mut Vec<Error>) {
        let bad = |iss: &str, why: String| {
            Error::new(
                ErrorKind::BadIssuer,
                format!("token issuer is {}, {why}", quoted(iss)),
            )
            .with_context("iss", iss)
        };
        let expected = match self.origin {
            Origin::Issuer(bound) => Some(bound),
            Origin::Key { imported: true } => {
                if let (Some(own), Some(iss)) = (&self.options.issuer, &claims.iss)
                    && iss == own
                {
                    errors.push(bad(
                        iss,
                        "this keyring's own issuer, but the token is signed by an imported key \
                         (import the key with --iss for the issuer it belongs to)"
                            .to_string(),
                    ));
                }
                return;
            }
            Origin::Own | Origin::Key { imported: false } => self.options.issuer.as_deref(),
        };
        let Some(expected) = expected else { return };
        match &claims.iss {
            // Reported once, by the presence check, when the profile requires it.
            None if self.required().iter().any(|(c, _)| *c == "iss") => {}
            None => errors.push(missing(
                "iss",
                &match self.origin {
                    Origin::Issuer(_) => {
                        format!("its key accepts tokens of issuer {} only", quoted(expected))
                    }
                    _ => "an issuer is expected (--iss, --issuer or TOLLGATE_ISSUER)".to_string(),
                },
            )),
            Some(iss) if iss != expected => {
                errors.push(bad(iss, format!("expected {}", quoted(expected))));
            }
            Some(_) => {}
        }
    }
}

/// Checks how long the token claims to live against its key's bound, so that every revocation
/// can be sized to outlive what it covers:
///
/// - a key generated in the keyring: `exp - iat` at most `max_ttl` (`token_lifetime_exceeded`),
///   and once the key stopped signing, `iat` at most that time plus the leeway
///   (`signed_after_key_deactivated`);
/// - another issuer's key: `exp - now` at most its maximum (`token_lifetime_exceeded`).
pub(crate) fn check_lifetime(
    claims: &Registered,
    bound: LifetimeBound,
    options: &VerifyOptions,
    now: i64,
    errors: &mut Vec<Error>,
) {
    let Some(exp) = claims.exp else { return };
    let leeway = options.leeway_secs();
    let too_long = |lifetime: i64, max: i64, from: &str| {
        Error::new(
            ErrorKind::TokenLifetimeExceeded,
            format!(
                "token claims to live {} from {from}, longer than its key allows ({}); mint a shorter one",
                crate::clock::format_duration(Duration::from_secs(lifetime.unsigned_abs())),
                crate::clock::format_duration(Duration::from_secs(max.unsigned_abs()))
            ),
        )
        .with_context("exp", exp)
        .with_context("max_lifetime", max)
    };
    match bound {
        LifetimeBound::Keyring {
            max_ttl,
            deactivated,
        } => {
            let Some(iat) = claims.iat else { return };
            let lifetime = exp.saturating_sub(iat);
            if lifetime > max_ttl {
                errors.push(too_long(lifetime, max_ttl, "its iat"));
            }
            if let Some(stopped) = deactivated
                && iat > stopped.saturating_add(leeway)
            {
                errors.push(
                    Error::new(
                        ErrorKind::SignedAfterKeyDeactivated,
                        format!(
                            "token claims to be issued at {}, after its key stopped signing at {}; \
                             a token of a retired or rotated-out key cannot be newer than that",
                            format_time(iat),
                            format_time(stopped)
                        ),
                    )
                    .with_context("iat", iat)
                    .with_context("deactivated", stopped),
                );
            }
        }
        LifetimeBound::Issuer { max } => {
            let lifetime = exp.saturating_sub(now);
            if lifetime > max {
                errors.push(too_long(lifetime, max, "now"));
            }
        }
    }
}

/// Checks `exp` (when present: its presence is the profile's), `nbf` and `iat` against `now`.
fn check_time(claims: &Registered, options: &VerifyOptions, now: i64, errors: &mut Vec<Error>) {
    let leeway = options.leeway_secs();
    let leeway_text = crate::clock::format_duration(options.leeway);
    match claims.exp {
        None => {}
        Some(exp) if now >= exp.saturating_add(leeway) => errors.push(
            Error::new(
                ErrorKind::Expired,
                format!(
                    "token expired at {}, {} before now (leeway {leeway_text}); refresh or mint a new one",
                    format_time(exp),
                    crate::clock::format_duration(Duration::from_secs(now.abs_diff(exp)))
                ),
            )
            .with_context("exp", exp)
            .with_context("now", now),
        ),
        Some(_) => {}
    }
    if let Some(nbf) = claims.nbf.filter(|nbf| now.saturating_add(leeway) < *nbf) {
        errors.push(
            Error::new(
                ErrorKind::NotYetValid,
                format!(
                    "token is not valid before {}, {} from now (leeway {leeway_text})",
                    format_time(nbf),
                    crate::clock::format_duration(Duration::from_secs(nbf.abs_diff(now)))
                ),
            )
            .with_context("nbf", nbf)
            .with_context("now", now),
        );
    }
    match claims.iat {
        None => {}
        Some(iat) if iat > now.saturating_add(leeway) => errors.push(
            Error::new(
                ErrorKind::IssuedInFuture,
                format!(
                    "token claims to be issued at {}, {} in the future (leeway {leeway_text}); check the issuer's clock",
                    format_time(iat),
                    crate::clock::format_duration(Duration::from_secs(iat.abs_diff(now)))
                ),
            )
            .with_context("iat", iat)
            .with_context("now", now),
        ),
        Some(_) => {}
    }
}

/// Checks `aud` against the accepted audiences.
fn check_audience(claims: &Registered, options: &VerifyOptions, errors: &mut Vec<Error>) {
    if options.audiences.is_empty() {
        if let Some(first) = claims.aud.first() {
            errors.push(
                Error::new(
                    ErrorKind::BadAudience,
                    format!(
                        "token is meant for audience {}, but no audience is configured; pass that audience (--aud) to accept it",
                        quoted(first)
                    ),
                )
                .with_context("aud", claims.aud.clone()),
            );
        }
    } else if claims.aud.is_empty() {
        errors.push(missing(
            "aud",
            "an audience is expected (--aud, --audience or TOLLGATE_AUDIENCE)",
        ));
    } else if !claims.aud.iter().any(|a| options.audiences.contains(a)) {
        errors.push(
            Error::new(
                ErrorKind::BadAudience,
                format!(
                    "token audience {} is not one of the accepted [{}]",
                    claims
                        .aud
                        .iter()
                        .map(|a| quoted(a))
                        .collect::<Vec<_>>()
                        .join(", "),
                    options.audiences.join(", ")
                ),
            )
            .with_context("aud", claims.aud.clone()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64, iat: i64) -> Registered {
        Registered {
            sub: Some("a".into()),
            jti: Some("j".into()),
            exp: Some(exp),
            iat: Some(iat),
            ..Registered::default()
        }
    }

    fn kinds(c: &Registered, o: &VerifyOptions, now: i64) -> Vec<&'static str> {
        kinds_for(Origin::Own, c, o, now)
    }

    fn kinds_for(
        origin: Origin<'_>,
        c: &Registered,
        o: &VerifyOptions,
        now: i64,
    ) -> Vec<&'static str> {
        let mut errors = Vec::new();
        Rules::new(origin, o).check_claims(c, &serde_json::Map::new(), now, &mut errors);
        errors.iter().map(|e| e.kind().as_str()).collect()
    }

    const FOREIGN: Origin<'static> = Origin::Key { imported: false };

    #[test]
    fn other_issuers_get_the_rfc7519_profile() {
        let only_exp = Registered {
            exp: Some(1000),
            ..Registered::default()
        };
        let o = VerifyOptions::new();
        assert!(kinds_for(FOREIGN, &only_exp, &o, 10).is_empty());
        assert_eq!(
            kinds(&only_exp, &o, 10),
            ["missing_claim", "missing_claim", "missing_claim"],
            "tollgate's own tokens need iat, sub and jti"
        );
        // exp is required of everyone; the rest is checked when present.
        assert_eq!(
            kinds_for(FOREIGN, &Registered::default(), &o, 10),
            ["missing_claim"]
        );
        let future = Registered {
            exp: Some(1000),
            iat: Some(500),
            ..Registered::default()
        };
        assert_eq!(kinds_for(FOREIGN, &future, &o, 10), ["issued_in_future"]);
        // --require tightens it.
        let o = VerifyOptions::new()
            .with_required_claim("sub")
            .with_required_claim("email");
        assert_eq!(
            kinds_for(FOREIGN, &only_exp, &o, 10),
            ["missing_claim", "missing_claim"]
        );
    }

    #[test]
    fn rfc9068_requires_its_claims() {
        let o = VerifyOptions::new()
            .with_profile(Profile::Rfc9068)
            .with_audience("api");
        let full = Registered {
            iss: Some("https://idp".into()),
            sub: Some("a".into()),
            aud: vec!["api".into()],
            exp: Some(1000),
            iat: Some(5),
            jti: Some("j".into()),
            ..Registered::default()
        };
        let mut errors = Vec::new();
        let rest: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"client_id":"c"}"#).unwrap();
        Rules::new(FOREIGN, &o).check_claims(&full, &rest, 10, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        // Without client_id.
        assert_eq!(kinds_for(FOREIGN, &full, &o, 10), ["missing_claim"]);
    }

    #[test]
    fn issuers_follow_the_key() {
        let token = |iss: &str| Registered {
            iss: Some(iss.into()),
            ..claims(1000, 0)
        };
        let o = VerifyOptions::new().with_issuer("https://us");
        // A key bound to an issuer: only that issuer, whatever is configured.
        let bound = Origin::Issuer("https://idp");
        assert!(kinds_for(bound, &token("https://idp"), &o, 10).is_empty());
        assert_eq!(
            kinds_for(bound, &token("https://us"), &o, 10),
            ["bad_issuer"]
        );
        assert_eq!(
            kinds_for(bound, &claims(1000, 0), &o, 10),
            ["missing_claim"]
        );
        // A key imported without an issuer cannot pass for the keyring's own.
        let imported = Origin::Key { imported: true };
        assert_eq!(
            kinds_for(imported, &token("https://us"), &o, 10),
            ["bad_issuer"]
        );
        assert!(kinds_for(imported, &token("https://other"), &o, 10).is_empty());
        assert!(kinds_for(imported, &claims(1000, 0), &o, 10).is_empty());
        // An explicit key (--key) and tollgate's own: the configured issuer.
        assert!(kinds_for(FOREIGN, &token("https://us"), &o, 10).is_empty());
        assert_eq!(
            kinds_for(FOREIGN, &token("https://x"), &o, 10),
            ["bad_issuer"]
        );
        assert_eq!(kinds(&token("https://x"), &o, 10), ["bad_issuer"]);
    }

    #[test]
    fn leeway_bounds_are_pinned() {
        let o = VerifyOptions::new();
        // Expired iff now >= exp + leeway (issue 8: the boundary second is expired).
        assert!(kinds(&claims(100, 0), &o, 129).is_empty());
        assert_eq!(kinds(&claims(100, 0), &o, 130), ["expired"]);
        assert!(kinds(&claims(1000, 130), &o, 100).is_empty());
        assert_eq!(kinds(&claims(1000, 131), &o, 100), ["issued_in_future"]);
    }

    #[test]
    fn every_failed_check_is_reported() {
        let o = VerifyOptions::new().with_issuer("me").with_audience("api");
        let c = Registered {
            exp: Some(1),
            iat: Some(10_000),
            ..Registered::default()
        };
        assert_eq!(
            kinds(&c, &o, 5000),
            [
                "expired",
                "issued_in_future",
                "missing_claim",
                "missing_claim",
                "missing_claim",
                "missing_claim"
            ]
        );
    }

    #[test]
    fn audience_policy() {
        let mut c = claims(1000, 0);
        c.aud = vec!["other".into()];
        assert_eq!(kinds(&c, &VerifyOptions::new(), 10), ["bad_audience"]);
        assert_eq!(
            kinds(&c, &VerifyOptions::new().with_audience("api"), 10),
            ["bad_audience"]
        );
        c.aud.push("api".into());
        assert!(kinds(&c, &VerifyOptions::new().with_audience("api"), 10).is_empty());
    }

    #[test]
    fn time_claims_must_be_numbers() {
        let split =
            crate::json::parse_split(br#"{"exp":"1700000000","iat":1.5,"aud":[1]}"#, &REGISTERED)
                .unwrap();
        let mut errors = Vec::new();
        let r = registered_from(split.known, &mut errors);
        assert_eq!(r.iat, Some(1));
        let kinds: Vec<_> = errors.iter().map(|e| e.kind()).collect();
        assert_eq!(kinds, [ErrorKind::Malformed, ErrorKind::Malformed]);
    }

    #[test]
    fn access_token_type_is_required() {
        let o = VerifyOptions::new();
        let rfc9068 = VerifyOptions::new().with_profile(Profile::Rfc9068);
        let typ_jwt = VerifyOptions::new().with_type("JWT");
        // (typ, own, another issuer's, RFC 9068, --typ JWT)
        for (typ, own, rfc7519, strict, jwt) in [
            (Some("at+jwt"), true, true, true, false),
            (Some("AT+JWT"), true, true, true, false),
            (Some("application/at+jwt"), true, true, true, false),
            (Some("JWT"), false, true, false, true),
            (Some("application/jwt"), false, true, false, true),
            (Some("rt+jwt"), false, false, false, false),
            (Some("dpop+jwt"), false, false, false, false),
            (Some("logout+jwt"), false, false, false, false),
            (None, false, true, false, false),
        ] {
            for (origin, options, ok) in [
                (Origin::Own, &o, own),
                (FOREIGN, &o, rfc7519),
                (FOREIGN, &rfc9068, strict),
                (FOREIGN, &typ_jwt, jwt),
            ] {
                let mut errors = Vec::new();
                Rules::new(origin, options).check_type(typ, &mut errors);
                assert_eq!(errors.is_empty(), ok, "{typ:?} {origin:?} {options:?}");
            }
        }
    }
}
