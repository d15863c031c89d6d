//! `tollgate verify`: check a token's signature and claims.

use std::time::Duration;

use clap::Args;
use tollgate::validate::Profile;
use tollgate::{Algorithm, KeySet, Result, parse_duration};

use crate::args::duration_help;
use crate::context::{Context, read_token};
use crate::output::{self, Output};

/// Verify a token: signature, type, time claims, issuer, audience, and revocation in the store.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate verify \"$TOKEN\" --aud api
  tollgate verify @token.jwt --key issuer-public.pem --alg RS256 --aud api
  tollgate verify @token.jwt --secret hs256.secret --aud api
  tollgate verify @idp-token.jwt --key idp.jwks.json --aud api --iss https://idp.example --profile rfc9068
  tollgate verify @idp-token.jwt --jwks https://idp.example/.well-known/jwks.json --aud api --iss https://idp.example
Default leeway for exp/nbf/iat: 30s. A token without kid verifies only with --key or --secret.
A --key file is never taken as an HMAC secret: only --secret files and single oct JWKs are.")]
pub(crate) struct VerifyArgs {
    /// The token, `-` for stdin (the default), or @FILE.
    token: Option<String>,
    /// Verify with this key file instead of the keyring (repeatable): a public key, private key
    /// (its public half is used) or certificate in PEM (anywhere in the file) or DER, a JWK, a
    /// JWK Set, or a single oct JWK. Never a raw secret: see --secret.
    #[arg(long, value_name = "FILE")]
    key: Vec<std::path::PathBuf>,
    /// Verify HMAC tokens with the raw bytes of this file as the secret, exactly as they are (a
    /// trailing newline included): at least 32 bytes; HS384 needs 48, HS512 64. Repeatable;
    /// combines with --key.
    #[arg(long, value_name = "FILE")]
    secret: Vec<std::path::PathBuf>,
    /// Verify with the keys of this remote JWK Set (https://, or http:// on loopback) instead
    /// of the keyring; combines with --key and --secret. With --iss, its keys accept only that
    /// issuer's tokens.
    #[arg(long, value_name = "URL")]
    jwks: Option<String>,
    /// Accepted audience (repeatable; default: --audience / TOLLGATE_AUDIENCE).
    #[arg(long, value_name = "A")]
    aud: Vec<String>,
    /// Required issuer (default: --issuer / TOLLGATE_ISSUER).
    #[arg(long, value_name = "I")]
    iss: Option<String>,
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration,
        help = duration_help!("Clock-skew leeway for exp, nbf and iat (at most the store's maximum, 5m).")
    )]
    leeway: Duration,
    /// Accept only these algorithms (repeatable; default: the key's own algorithm).
    #[arg(long, value_name = "ALG")]
    alg: Vec<Algorithm>,
    /// The rules for other issuers' tokens (--key, --secret, imported keys): rfc7519 (typ
    /// absent, JWT or at+jwt; exp required, the rest checked when present) or rfc9068 (access
    /// tokens: typ at+jwt; iss, exp, aud, sub, client_id, iat, jti required). tollgate's own
    /// tokens always get its strict profile.
    #[arg(long, value_name = "PROFILE", default_value = "rfc7519")]
    profile: Profile,
    /// Also require this claim (repeatable): `sub`, `jti`, or an application claim.
    #[arg(long, value_name = "CLAIM")]
    require: Vec<String>,
    /// Require this token type (the header's typ, compared case-insensitively, with or
    /// without `application/`).
    #[arg(long, value_name = "T")]
    typ: Option<String>,
}

pub(crate) async fn run(ctx: &Context, args: VerifyArgs) -> Result<Output> {
    let token = read_token(args.token.as_deref())?;
    let mut options = ctx
        .options(args.aud, args.iss)
        .with_leeway(args.leeway)
        .with_profile(args.profile);
    for alg in &args.alg {
        options = options.with_algorithm(*alg);
    }
    for claim in args.require {
        options = options.with_required_claim(claim);
    }
    if let Some(typ) = args.typ {
        options = options.with_type(typ);
    }
    let verified = if args.key.is_empty() && args.secret.is_empty() && args.jwks.is_none() {
        ctx.gate(options, true).await?.verify(&token).await?
    } else {
        let mut keys = KeySet::new();
        if let Some(url) = &args.jwks {
            let remote = ctx.remote_jwks(url, options.issuer().map(str::to_string))?;
            let kid = tollgate::dangerous::decode_unverified(&token)
                .ok()
                .and_then(|u| {
                    u.header
                        .get("kid")
                        .and_then(|k| k.as_str().map(str::to_string))
                });
            keys.extend((*remote.key_set_for(kid.as_deref()).await?).clone());
        }
        for path in &args.key {
            keys.extend(KeySet::from_file(path, &args.alg)?);
        }
        for path in &args.secret {
            keys.extend(KeySet::from_secret_file(path, &args.alg)?);
        }
        for reason in keys.skip_reasons() {
            output::warn(reason);
        }
        if options.audiences().is_empty() {
            // RFC 8725 §3.9: an issuer signs tokens for many audiences.
            output::warn(
                "no audience given (--aud): any token of this issuer without an `aud` claim \
                 passes, including ones meant for another service; pass the audience you \
                 expect",
            );
        }
        ctx.gate(options, false)
            .await?
            .verify_with(&token, &keys)
            .await?
    };
    Ok(Output::Verified(verified))
}
