//! `tollgate revoke`: denylist a token, or every token of a session, user or key.

use clap::{ArgGroup, Args};
use tollgate::store::Scope;
use tollgate::{Result, VerifyOptions};

use crate::context::{Context, read_token};
use crate::output::Output;

/// Revoke a token until it expires, or every token of a session, of a user (issued up to now),
/// of a key, or every token issued up to now.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("target").args(["token", "session", "user", "kid", "all"])),
    after_help = "Examples:
  tollgate revoke @token.jwt
  tollgate revoke --session 5f307a22-d983-4dcf-aee8-03a0b327dace
  tollgate revoke --user alice
  tollgate revoke --kid KID
Entries expire by themselves once nothing they revoke can still be valid."
)]
pub(crate) struct RevokeArgs {
    /// The token (its signature must verify; it may have expired), `-` for stdin, or @FILE. A
    /// refresh token ends its session.
    token: Option<String>,
    /// Revoke every token of this session, and end the session for good.
    #[arg(long, value_name = "SID", allow_hyphen_values = true)]
    session: Option<String>,
    /// Revoke every token of this user issued up to now, and end the user's sessions.
    #[arg(long, value_name = "SUBJECT", allow_hyphen_values = true)]
    user: Option<String>,
    /// Revoke every token signed by this key.
    #[arg(long, value_name = "KID", allow_hyphen_values = true)]
    kid: Option<String>,
    /// Revoke every token issued up to now (all users, all keys).
    #[arg(long)]
    all: bool,
}

pub(crate) async fn run(ctx: &Context, args: RevokeArgs) -> Result<Output> {
    let gate = ctx.gate(VerifyOptions::new(), true).await?;
    let scoped = match (args.session, args.user, args.kid, args.all) {
        (Some(sid), ..) => Some((Scope::Session, sid)),
        (_, Some(sub), ..) => Some((Scope::User, sub)),
        (_, _, Some(kid), _) => Some((Scope::Key, kid)),
        (.., true) => Some((Scope::Global, String::new())),
        _ => None,
    };
    let revoked = match scoped {
        Some((scope, id)) => gate.revoke(scope, &id).await?,
        None => {
            gate.revoke_token(&read_token(args.token.as_deref())?)
                .await?
        }
    };
    Ok(Output::Revoked(revoked))
}
