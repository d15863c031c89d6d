//! `tollgate inspect`: decode a token WITHOUT verifying it.

use clap::Args;
use tollgate::store::TokenRef;
use tollgate::{Result, VerifyOptions, dangerous};

use crate::context::{Context, read_token};
use crate::output::Output;

/// Show a token's header and claims WITHOUT verification (labelled UNVERIFIED). With --store,
/// also whether the token, its session, its user or its key is revoked, and since when.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate inspect @token.jwt
  tollgate inspect @token.jwt --store redis://127.0.0.1:6379/0")]
pub(crate) struct InspectArgs {
    /// The token, `-` for stdin (the default), or @FILE.
    token: Option<String>,
}

pub(crate) async fn run(ctx: &Context, args: InspectArgs) -> Result<Output> {
    let token = read_token(args.token.as_deref())?;
    let unverified = dangerous::decode_unverified(&token)?;
    // Which key signed it, when the keyring is readable; inspect works without one.
    let key = unverified
        .header
        .get("kid")
        .and_then(|k| k.as_str())
        .and_then(|kid| ctx.keyring().ok()?.entry(kid).cloned());
    let revocations = if ctx.store_is_explicit() {
        let claim = |name: &str| {
            unverified
                .claims
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
        };
        let token = TokenRef {
            jti: claim("jti"),
            sid: unverified.claims.get("sid").and_then(|v| v.as_str()),
            sub: claim("sub"),
            kid: unverified
                .header
                .get("kid")
                .and_then(|v| v.as_str())
                .unwrap_or_default(),
            iat: unverified
                .claims
                .get("iat")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(i64::MIN),
        };
        let gate = ctx.gate(VerifyOptions::new(), false).await?;
        Some(gate.revocations_of(&token).await?)
    } else {
        None
    };
    Ok(Output::Inspected {
        unverified,
        key,
        revocations,
        now: ctx.clock.now(),
    })
}
