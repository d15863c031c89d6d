//! `tollgate clients`: the callers allowed on the service's trusted endpoints.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tollgate::Result;
use tollgate::server::{Clients, Permissions};

use crate::context::Context;
use crate::output::Output;

/// Create, list and remove the callers of /introspect, /revoke and /session/login (client
/// credentials: HTTP Basic or client_id/client_secret in the form body).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate clients add billing-api      # introspect only; prints the secret once, keeps its SHA-256
  tollgate clients add web --allow introspect,revoke,login
  tollgate clients list                 # each caller with what it may call
  tollgate clients remove billing-api
  curl -u billing-api:$SECRET -d token=$TOKEN http://127.0.0.1:8080/introspect
A running `tollgate serve` picks up changes to the file within a second. The file must not be
group- or world-accessible (mode 0600): a looser one is refused (exit 3), and while serving it
means no callers at all until it is fixed.")]
pub(crate) struct ClientsArgs {
    #[command(subcommand)]
    command: ClientsCommand,
    /// Caller credentials file (`client_id:sha256[:permissions]` lines; created with mode 0600,
    /// refused when group- or world-accessible).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "TOLLGATE_CLIENTS",
        default_value = "./tollgate.clients"
    )]
    clients: PathBuf,
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Add a caller: generate its secret, store its hash, print the secret once.
    #[command(after_help = "Example:
  tollgate clients add billing-api --clients /etc/tollgate/clients")]
    Add {
        /// Client id: 1 to 64 characters of A-Z a-z 0-9 . _ -
        id: String,
        /// What the caller may call: a comma-separated list of introspect (POST /introspect),
        /// revoke (POST /revoke) and login (POST /session/login). A caller lacking one is
        /// answered 400 unauthorized_client there.
        #[arg(long, value_name = "PERMISSIONS", default_value = "introspect")]
        allow: String,
    },
    /// List the client ids, each with what it may call (lines written before permissions
    /// existed may call everything).
    #[command(after_help = "Example:
  tollgate clients list --clients /etc/tollgate/clients")]
    List,
    /// Remove a caller: a running server refuses it within a second.
    #[command(after_help = "Example:
  tollgate clients remove billing-api --clients /etc/tollgate/clients")]
    Remove {
        /// The client id to remove.
        id: String,
    },
}

pub(crate) async fn run(_ctx: &Context, args: ClientsArgs) -> Result<Output> {
    match args.command {
        ClientsCommand::Add { id, allow } => {
            let allow: Permissions = allow.parse()?;
            let secret = Clients::add_to_file(&args.clients, &id, allow)?;
            Ok(Output::ClientAdded {
                id,
                secret,
                file: args.clients,
                allow: allow.iter().map(|p| p.as_str()).collect(),
            })
        }
        ClientsCommand::List => {
            let clients = Clients::load(&args.clients)?;
            Ok(Output::ClientList(
                clients
                    .entries()
                    .into_iter()
                    .map(|(id, allow)| (id.to_owned(), allow.iter().map(|p| p.as_str()).collect()))
                    .collect(),
            ))
        }
        ClientsCommand::Remove { id } => {
            Clients::remove_from_file(&args.clients, &id)?;
            Ok(Output::ClientRemoved {
                id,
                file: args.clients,
            })
        }
    }
}
