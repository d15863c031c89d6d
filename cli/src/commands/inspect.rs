//! `tollgate inspect`: decode a token WITHOUT verifying it.

use clap::Args;
use tollgate::{Result, dangerous};

use crate::context::{Context, read_token};
use crate::output::Output;

/// Show a token's header and claims WITHOUT verification (labelled UNVERIFIED).
#[derive(Debug, Args)]
#[command(after_help = "Example:
  tollgate inspect @token.jwt")]
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
    Ok(Output::Inspected {
        unverified,
        key,
        now: ctx.clock.now(),
    })
}
