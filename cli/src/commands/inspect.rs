//! `tollgate inspect`: decode a token WITHOUT verifying it.

use clap::Args;
use tollgate::{Result, VerifyOptions, dangerous};

use crate::context::{Context, read_token};
use crate::output::Output;

/// Show a token's header and claims WITHOUT verification (labelled UNVERIFIED; UNSIGNED too for
/// a token without a signature), and whether the token, its session, its user or its key is
/// revoked in the store (--store, or the default sqlite:./tollgate.db when it exists), and
/// since when.
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
    let now = ctx.clock.now();
    // The default store is consulted when it exists (inspect never creates it).
    let default_exists = crate::args::DEFAULT_STORE
        .strip_prefix("sqlite:")
        .is_some_and(|path| std::path::Path::new(path).exists());
    if !ctx.store_is_explicit() && !default_exists {
        let unverified = dangerous::decode_unverified(&token)?;
        // Which key signed it, when the keyring is readable; inspect works without one.
        let key = unverified
            .header
            .get("kid")
            .and_then(|k| k.as_str())
            .and_then(|kid| ctx.keyring().ok()?.entry(kid).cloned());
        return Ok(Output::Inspected {
            unverified,
            key,
            revocations: None,
            now,
        });
    }
    let mut gate = ctx.gate(VerifyOptions::new(), false).await?;
    if let Ok(keyring) = ctx.keyring() {
        gate = gate.with_keyring(keyring);
    }
    let inspection = gate.inspect(&token).await?;
    Ok(Output::Inspected {
        unverified: inspection.unverified,
        key: inspection.key,
        revocations: Some(inspection.revocations),
        now,
    })
}
