//! `tollgate session`: login, refresh, logout, logout-all and list, over the store.

use clap::{Args, Subcommand};
use tollgate::Device;
use tollgate::Result;
use tollgate::session::{DEFAULT_ACCESS_TTL, LoginRequest, SessionConfig};

use crate::commands::lifetimes::{AccessTtl, Grace, Windows};
use crate::context::{Context, parse_claim, read_token};
use crate::output::Output;

/// Sessions: an access token plus a rotating refresh token, kept in the store.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate session login --sub alice --remember-me --claim role=admin > pair.json
  tollgate session refresh \"$(jq -r .refresh_token pair.json)\"
  tollgate session list --sub alice
  tollgate session logout \"$ACCESS_OR_REFRESH_TOKEN\"
  tollgate session logout-all --sub alice
Sessions live in the store (--store, default sqlite:./tollgate.db), so separate processes share
them. Lifetimes: access tokens 15m; refresh tokens 12h from login without --remember-me, 30d
sliding (capped at 90d from login) with it; the previous refresh token may be replayed for 10s
after a rotation and returns the same pair; any other reuse revokes the whole session (exit 1,
reused_refresh_token).")]
pub(crate) struct SessionArgs {
    #[command(subcommand)]
    command: SessionCommand,
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// Start a session; prints {"access_token", "refresh_token", "token_type", "expires_in",
    /// "refresh_expires_in", "session_id", "remember_me"}.
    #[command(after_help = "Examples:
  tollgate session login --sub alice > pair.json
  tollgate session login --sub alice --remember-me --claim role=admin --access-ttl 5m")]
    Login(LoginArgs),
    /// Rotate a refresh token: prints a new pair (same JSON as login); the old token is spent.
    #[command(after_help = "Example:
  tollgate session refresh \"$(jq -r .refresh_token pair.json)\" > pair.json")]
    Refresh {
        /// The refresh token, `-` for stdin (the default), or @FILE.
        token: Option<String>,
        #[command(flatten)]
        access: AccessTtl,
        #[command(flatten)]
        grace: Grace,
    },
    /// End the session of an access token or a refresh token and revoke its access tokens.
    #[command(after_help = "Example:
  tollgate session logout \"$(jq -r .refresh_token pair.json)\"")]
    Logout {
        /// The access or refresh token, `-` for stdin (the default), or @FILE.
        token: Option<String>,
    },
    /// End every session of a user and revoke every token issued to them up to now.
    #[command(after_help = "Examples:
  tollgate session logout-all --sub alice
  tollgate session logout-all --sub alice --keep SID   # every other device of alice")]
    LogoutAll {
        /// The user.
        #[arg(long, value_name = "SUBJECT", allow_hyphen_values = true)]
        sub: String,
        /// Keep this session (log out the user's other devices only; no user-wide revocation).
        #[arg(long, value_name = "SID")]
        keep: Option<String>,
    },
    /// List a user's live sessions, most recently used first.
    #[command(after_help = "Example:
  tollgate session list --sub alice")]
    List {
        /// The user.
        #[arg(long, value_name = "SUBJECT", allow_hyphen_values = true)]
        sub: String,
    },
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// The user.
    #[arg(long, value_name = "SUBJECT", allow_hyphen_values = true)]
    sub: String,
    /// Remember the login: the long, sliding refresh window instead of the short one.
    #[arg(long)]
    remember_me: bool,
    /// Application claim NAME=VALUE for the session's access tokens; VALUE is JSON when it
    /// parses as JSON, else a string. Repeatable.
    #[arg(long, value_name = "NAME=VALUE")]
    claim: Vec<String>,
    /// The client's user agent, shown by `session list`.
    #[arg(long, value_name = "UA")]
    user_agent: Option<String>,
    /// The client's IP address, shown by `session list`.
    #[arg(long, value_name = "IP")]
    ip: Option<String>,
    #[command(flatten)]
    access: AccessTtl,
    #[command(flatten)]
    windows: Windows,
}

pub(crate) async fn run(ctx: &Context, args: SessionArgs) -> Result<Output> {
    // Only login and refresh mint; each takes the lifetimes it uses.
    let config = match &args.command {
        SessionCommand::Login(login) => {
            login.windows.apply(login.access.config(DEFAULT_ACCESS_TTL))
        }
        SessionCommand::Refresh { access, grace, .. } => {
            grace.apply(access.config(DEFAULT_ACCESS_TTL))
        }
        _ => SessionConfig::new(),
    };
    let options = ctx.options(Vec::new(), None);
    // Listing reads the store only; everything else signs, verifies or sizes revocations by the
    // keyring's max_ttl.
    let needs_keyring = !matches!(args.command, SessionCommand::List { .. });
    let gate = ctx
        .gate(options, needs_keyring)
        .await?
        .with_session_config(config);
    match args.command {
        SessionCommand::Login(login) => {
            let mut request = LoginRequest::new(login.sub)
                .with_remember_me(login.remember_me)
                .with_device(Device::new(login.user_agent, login.ip));
            for pair in &login.claim {
                let (name, value) = parse_claim(pair)?;
                request = request.with_claim(name, value)?;
            }
            Ok(Output::Pair(gate.login(&request).await?))
        }
        SessionCommand::Refresh { token, .. } => {
            let token = read_token(token.as_deref())?;
            Ok(Output::Pair(gate.refresh(&token).await?))
        }
        SessionCommand::Logout { token } => {
            let token = read_token(token.as_deref())?;
            gate.logout(&token).await?;
            Ok(Output::LoggedOut)
        }
        SessionCommand::LogoutAll { sub, keep: None } => {
            let ended = gate.logout_all(&sub).await?;
            Ok(Output::LoggedOutAll {
                sub,
                ended,
                kept: None,
            })
        }
        SessionCommand::LogoutAll {
            sub,
            keep: Some(keep),
        } => {
            let ended = gate.end_other_sessions(&sub, &keep).await?;
            Ok(Output::LoggedOutAll {
                sub,
                ended,
                kept: Some(keep),
            })
        }
        SessionCommand::List { sub } => Ok(Output::Sessions {
            sessions: gate.sessions(&sub).await?,
            sub,
            now: gate.clock().now(),
        }),
    }
}
