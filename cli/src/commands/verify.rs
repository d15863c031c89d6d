//! `tollgate verify`: check a token's signature and claims.

use std::time::Duration;

use clap::Args;
use tollgate::{Algorithm, KeySet, Result, VerifyOptions, parse_duration};

use crate::args::duration_help;
use crate::context::{Context, read_token};
use crate::output::Output;

/// Verify a token: signature, type, time claims, issuer, audience, and revocation in the store.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate verify \"$TOKEN\" --aud api
  tollgate verify @token.jwt --key issuer-public.pem --alg RS256
Default leeway for exp/nbf/iat: 30s. A token without kid verifies only with --key.")]
pub(crate) struct VerifyArgs {
    /// The token, `-` for stdin (the default), or @FILE.
    token: Option<String>,
    /// Verify with this key file instead of the keyring: PEM (SPKI or PKCS#8), JWK, JWK Set,
    /// or a raw HMAC secret. Repeatable.
    #[arg(long, value_name = "FILE")]
    key: Vec<std::path::PathBuf>,
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
    let mut options = VerifyOptions::new().with_leeway(args.leeway);
    let audiences = if args.aud.is_empty() {
        ctx.args.audience.clone().into_iter().collect()
    } else {
        args.aud
    };
    for aud in audiences {
        options = options.with_audience(aud);
    }
    if let Some(iss) = args.iss.or_else(|| ctx.args.issuer.clone()) {
        options = options.with_issuer(iss);
    }
    for alg in &args.alg {
        options = options.with_algorithm(*alg);
    }
    let verified = if args.key.is_empty() {
        let keyring = ctx.keyring()?;
        let gate = ctx.gate(options, false).await?;
        gate.verify_with(&token, keyring.key_set()).await?
    } else {
        let mut keys = KeySet::from_file(&args.key[0], &args.alg)?;
        for path in &args.key[1..] {
            keys.extend(KeySet::from_file(path, &args.alg)?);
        }
        ctx.gate(options, false)
            .await?
            .verify_with(&token, &keys)
            .await?
    };
    Ok(Output::Verified(verified))
}
