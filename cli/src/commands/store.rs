//! `tollgate store`: maintenance of the revocation and session store.

use clap::{Args, Subcommand};
use tollgate::Result;

use crate::context::Context;
use crate::output::Output;

/// Maintain the store.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate store purge
  tollgate --store sqlite:/var/lib/tollgate/tollgate.db store purge")]
pub(crate) struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Delete revocation entries and session records that expired, by the store's own clock
    /// (never --now): entries only once they expired more than the store's maximum leeway plus
    /// 5 minutes ago (on SQLite, a day ago: every process purges it by its own clock). Redis
    /// needs no purge (its keys expire by themselves).
    #[command(after_help = "Example:
  tollgate store purge --json")]
    Purge,
}

pub(crate) async fn run(ctx: &Context, args: StoreArgs) -> Result<Output> {
    match args.command {
        StoreCommand::Purge => {
            let store = ctx.store().await?;
            let purged = store.purge().await?;
            Ok(Output::Purged {
                store: store.url().to_owned(),
                entries: purged.entries,
                sessions: purged.sessions,
            })
        }
    }
}
