//! `tollgate revoke`: denylist a token, or every token of a session, user or key.

use clap::{ArgGroup, Args};
use tollgate::keys::Namespace;
use tollgate::store::Scope;
use tollgate::{Error, Result, VerifyOptions};

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
  tollgate revoke --user alice --iss https://idp.example   # another issuer's user
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
    /// Revoke every token issued up to now (all users, all keys, every issuer), and end every
    /// session created before now.
    #[arg(long)]
    all: bool,
    /// With --session or --user: the session or user of this issuer's tokens (its keys
    /// imported with `keys import --iss`), not tollgate's own.
    #[arg(long, value_name = "ISSUER", conflicts_with = "from_key")]
    iss: Option<String>,
    /// With --session or --user: the session or user of the tokens of this imported key (one
    /// imported without --iss), not tollgate's own.
    #[arg(long, value_name = "KID")]
    from_key: Option<String>,
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
    let namespace = match (args.iss, args.from_key) {
        (Some(iss), _) => Some(Namespace::Issuer(iss)),
        (_, Some(kid)) => Some(imported_namespace(&*gate.keyring()?, &kid)?),
        _ => None,
    };
    let revoked = match (scoped, namespace) {
        (Some((scope @ (Scope::Session | Scope::User), id)), Some(namespace)) => {
            gate.revoke_in(&namespace, scope, &id).await?
        }
        (_, Some(_)) => {
            return Err(Error::usage(
                "--iss and --from-key name whose session or user is revoked: use them with \
                 --session or --user (a token carries its issuer; --kid and --all hold for \
                 every issuer)",
            ));
        }
        (Some((scope, id)), None) => gate.revoke(scope, &id).await?,
        (None, None) => {
            gate.revoke_token(&read_token(args.token.as_deref())?)
                .await?
        }
    };
    Ok(Output::Revoked(revoked))
}

/// The namespace of an imported key's tokens.
fn imported_namespace(keyring: &tollgate::Keyring, kid: &str) -> Result<Namespace> {
    let key = keyring.key_set().get(kid).ok_or_else(|| {
        Error::usage(format!(
            "no key {kid:?} in the keyring (see `tollgate keys list`)"
        ))
    })?;
    match key.namespace() {
        Namespace::Own => Err(Error::usage(format!(
            "key {kid:?} is this keyring's own: its tokens are tollgate's; leave --from-key out"
        ))),
        namespace => Ok(namespace.clone()),
    }
}
