//! `tollgate clients`: the callers allowed on the service's trusted endpoints.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tollgate::Result;
use tollgate::server::Clients;

use crate::context::Context;
use crate::output::Output;

/// Create and list the callers of /introspect and /revoke (HTTP Basic client credentials).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate clients add billing-api      # prints the new secret once, keeps only its SHA-256
  tollgate clients list
  curl -u billing-api:$SECRET -d token=$TOKEN http://127.0.0.1:8080/introspect
A running `tollgate serve` picks up changes to the file within a second. To remove a caller,
delete its line from the file.")]
pub(crate) struct ClientsArgs {
    #[command(subcommand)]
    command: ClientsCommand,
    /// Caller credentials file (client_id:sha256 lines; created with mode 0600).
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
    },
    /// List the client ids.
    #[command(after_help = "Example:
  tollgate clients list --clients /etc/tollgate/clients")]
    List,
}

pub(crate) async fn run(_ctx: &Context, args: ClientsArgs) -> Result<Output> {
    match args.command {
        ClientsCommand::Add { id } => {
            let secret = Clients::add_to_file(&args.clients, &id)?;
            Ok(Output::ClientAdded {
                id,
                secret,
                file: args.clients,
            })
        }
        ClientsCommand::List => {
            let clients = Clients::load(&args.clients)?;
            Ok(Output::ClientList(
                clients.ids().into_iter().map(str::to_owned).collect(),
            ))
        }
    }
}
