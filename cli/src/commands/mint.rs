//! `tollgate mint`: print a signed access token.

use std::time::Duration;

use clap::Args;
use tollgate::{Error, MintOptions, Result, mint, parse_duration};

use crate::args::duration_help;
use crate::context::{Context, parse_claim};
use crate::output::Output;

/// Print a signed access token for SUBJECT.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  tollgate mint --sub alice --ttl 5m --aud api --claim role=admin | tollgate verify - --aud api")]
pub(crate) struct MintArgs {
    /// Subject (the user).
    #[arg(long, value_name = "SUBJECT")]
    sub: String,
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "15m",
        value_parser = parse_duration,
        help = duration_help!("Lifetime of the token, at most the keyring's max_ttl (24h by default).")
    )]
    ttl: Duration,
    /// Audience (repeat for several; default: --audience / TOLLGATE_AUDIENCE).
    #[arg(long, value_name = "A")]
    aud: Vec<String>,
    /// Issuer (default: --issuer / TOLLGATE_ISSUER).
    #[arg(long, value_name = "I")]
    iss: Option<String>,
    /// Application claim NAME=VALUE; VALUE is JSON when it parses as JSON, else a string.
    #[arg(long, value_name = "NAME=VALUE")]
    claim: Vec<String>,
    /// Application claims as one JSON object.
    #[arg(long, value_name = "JSON")]
    claims: Option<String>,
    /// Session id (default: a new UUID).
    #[arg(long, value_name = "SID")]
    sid: Option<String>,
    /// Require the signing key to be KID (it must be the active key).
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
}

pub(crate) async fn run(ctx: &Context, args: MintArgs) -> Result<Output> {
    let defaults = ctx.options(args.aud, args.iss);
    let mut options = defaults.mint_defaults(MintOptions::new(args.sub).with_ttl(args.ttl));
    if let Some(sid) = args.sid {
        options = options.with_sid(sid);
    }
    if let Some(kid) = args.kid {
        options = options.with_kid(kid);
    }
    if let Some(json) = args.claims {
        let value: serde_json::Value = serde_json::from_str(&json)
            .map_err(|e| Error::usage(format!("--claims is not valid JSON: {e}")))?;
        options = options.with_claims(&value)?;
    }
    for pair in &args.claim {
        let (name, value) = parse_claim(pair)?;
        options = options.with_claim(name, value)?;
    }
    let keyring = ctx.keyring()?;
    Ok(Output::Minted(mint(&keyring, &options, &ctx.clock)?))
}
