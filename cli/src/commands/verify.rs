//! `tollgate verify`: check a token's signature and claims.

use std::time::Duration;

use clap::Args;
use tollgate::{Algorithm, KeySet, Result, parse_duration};

use crate::args::duration_help;
use crate::context::{Context, read_token};
use crate::output::{self, Output};

/// Verify a token: signature, type, time claims, issuer, audience, and revocation in the store.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate verify \"$TOKEN\" --aud api
  tollgate verify @token.jwt --key issuer-public.pem --alg RS256
  tollgate verify @token.jwt --secret hs256.secret
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
}

pub(crate) async fn run(ctx: &Context, args: VerifyArgs) -> Result<Output> {
    let token = read_token(args.token.as_deref())?;
    let mut options = ctx.options(args.aud, args.iss).with_leeway(args.leeway);
    for alg in &args.alg {
        options = options.with_algorithm(*alg);
    }
    let verified = if args.key.is_empty() && args.secret.is_empty() {
        ctx.gate(options, true).await?.verify(&token).await?
    } else {
        let mut keys = KeySet::new();
        for path in &args.key {
            keys.extend(KeySet::from_file(path, &args.alg)?);
        }
        for path in &args.secret {
            keys.extend(KeySet::from_secret_file(path, &args.alg)?);
        }
        for reason in keys.skip_reasons() {
            output::warn(reason);
        }
        ctx.gate(options, false)
            .await?
            .verify_with(&token, &keys)
            .await?
    };
    Ok(Output::Verified(verified))
}
