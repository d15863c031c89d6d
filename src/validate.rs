//! [`VerifyOptions`] and the claim checks of the verification pipeline: token type, time
//! (against the injected [`Clock`](crate::Clock), never the system clock), issuer and audience.
//!
//! Policy, stated once:
//! - `exp`, `iat`, `sub` and `jti` are required; `nbf` is checked when present.
//!   `exp`/`nbf`/`iat` must be JSON numbers.
//! - A token is expired when `now > exp + leeway`, not yet valid when `now + leeway < nbf`, and
//!   issued in the future when `iat > now + leeway`. The leeway defaults to 30 seconds.
//! - Issuer: when one is configured, `iss` must be present and equal.
//! - Audience: when audiences are configured, `aud` must be present and name one of them.
//!   When none are configured, a token that carries an `aud` is rejected (`bad_audience`): it was
//!   meant for someone who identifies as that audience (RFC 7519 §4.1.3).
//! - The header's `typ` must be `at+jwt` (RFC 9068; `application/at+jwt` too, case-insensitive).

use std::time::Duration;

use serde_json::Value;

use crate::alg::Algorithm;
use crate::claims::MintOptions;
use crate::clock::format_time;
use crate::error::{Error, ErrorKind, quoted};

/// Default clock-skew leeway: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The `typ` of access tokens.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

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
}

fn missing(claim: &str) -> Error {
    // Why the claim is required: the profile, or an expected issuer or audience.
    let why = match claim {
        "iss" => "an issuer is expected (--iss, --issuer or TOLLGATE_ISSUER)",
        "aud" => "an audience is expected (--aud, --audience or TOLLGATE_AUDIENCE)",
        _ => "tollgate requires exp, iat, sub and jti",
    };
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
pub(crate) const REGISTERED: [&str; 8] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid"];

/// Reads the registered claims (indexed like [`REGISTERED`]), recording type errors.
pub(crate) fn registered_from(values: [Option<Value>; 8], errors: &mut Vec<Error>) -> Registered {
    let [iss, sub, aud, exp, nbf, iat, jti, sid] = values;
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
        sub: string_claim(sub, "sub", errors),
        aud,
        exp: time_claim(exp, "exp", errors),
        nbf: time_claim(nbf, "nbf", errors),
        iat: time_claim(iat, "iat", errors),
        jti: string_claim(jti, "jti", errors),
        sid: string_claim(sid, "sid", errors),
    }
}

/// Checks only that the claims tollgate requires are present (for revocation, which accepts
/// expired tokens).
pub(crate) fn check_presence(claims: &Registered, errors: &mut Vec<Error>) {
    for (name, present) in [
        ("exp", claims.exp.is_some()),
        ("iat", claims.iat.is_some()),
        ("sub", claims.sub.is_some()),
        ("jti", claims.jti.is_some()),
    ] {
        if !present {
            errors.push(missing(name));
        }
    }
}

/// Checks the header's `typ`.
pub(crate) fn check_type(typ: Option<&str>, errors: &mut Vec<Error>) {
    let ok = typ.is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !ok {
        errors.push(
            Error::new(
                ErrorKind::WrongTokenType,
                format!(
                    "token type is {}, not an access token (typ \"at+jwt\")",
                    typ.map_or_else(|| "missing".to_string(), quoted)
                ),
            )
            .with_context("typ", typ.unwrap_or_default()),
        );
    }
}

/// Checks presence, time, issuer and audience.
pub(crate) fn check_claims(
    claims: &Registered,
    options: &VerifyOptions,
    now: i64,
    errors: &mut Vec<Error>,
) {
    let leeway = options.leeway_secs();
    let leeway_text = crate::clock::format_duration(options.leeway);
    match claims.exp {
        None => errors.push(missing("exp")),
        Some(exp) if now > exp.saturating_add(leeway) => errors.push(
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
        None => errors.push(missing("iat")),
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
    if claims.sub.is_none() {
        errors.push(missing("sub"));
    }
    if claims.jti.is_none() {
        errors.push(missing("jti"));
    }
    if let Some(expected) = &options.issuer {
        match &claims.iss {
            None => errors.push(missing("iss")),
            Some(iss) if iss != expected => errors.push(
                Error::new(
                    ErrorKind::BadIssuer,
                    format!(
                        "token issuer is {}, expected {}",
                        quoted(iss),
                        quoted(expected)
                    ),
                )
                .with_context("iss", iss.as_str()),
            ),
            Some(_) => {}
        }
    }
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
        errors.push(missing("aud"));
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
        let mut errors = Vec::new();
        check_claims(c, o, now, &mut errors);
        errors.iter().map(|e| e.kind().as_str()).collect()
    }

    #[test]
    fn leeway_bounds_are_inclusive_of_the_leeway() {
        let o = VerifyOptions::new();
        assert!(kinds(&claims(100, 0), &o, 130).is_empty());
        assert_eq!(kinds(&claims(100, 0), &o, 131), ["expired"]);
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
        for (typ, ok) in [
            (Some("at+jwt"), true),
            (Some("AT+JWT"), true),
            (Some("application/at+jwt"), true),
            (Some("JWT"), false),
            (Some("rt+jwt"), false),
            (None, false),
        ] {
            let mut errors = Vec::new();
            check_type(typ, &mut errors);
            assert_eq!(errors.is_empty(), ok, "{typ:?}");
        }
    }
}
