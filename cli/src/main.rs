//! `tollgate`: keys, tokens, revocation and sessions from the command line.
//!
//! Thin over the library: parse (clap), build the context, run one command, render its output,
//! and map errors to exit codes in one place.

mod args;
mod commands;
mod context;
mod exit;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tollgate::Error;

use crate::args::GlobalArgs;
use crate::commands::{clients, inspect, keys, mint, revoke, serve, session, store, verify};
use crate::context::Context;
use crate::output::Output;

/// The one line `tollgate -h` starts with: what it is, and every command by its name.
const ABOUT: &str = "Signed access tokens, revocation and sessions: \
    keys, mint, inspect, verify, revoke, session, store, serve, clients, completions";

/// Sessions that verify like stateless JWTs and revoke like server sessions.
#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = ABOUT,
    long_about = "Sessions that verify like stateless JWTs and revoke like server sessions.\n\n\
        Examples:\n  tollgate keys generate\n  tollgate mint --sub alice | tollgate verify -\n  \
        tollgate inspect @token.jwt\n  tollgate revoke --user alice\n  \
        tollgate session login --sub alice --remember-me\n  tollgate serve --listen 127.0.0.1:8080\n  \
        tollgate serve --demo                # a demo page at http://127.0.0.1:8080/",
    after_help = exit::EXIT_STATUS
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate, rotate, list, retire, prune, import and export keys; print the JWK Set.
    Keys(keys::KeysArgs),
    /// Print a signed access token.
    Mint(mint::MintArgs),
    /// Show a token's header and claims WITHOUT verifying it.
    Inspect(inspect::InspectArgs),
    /// Verify a token's signature, claims and revocation.
    Verify(verify::VerifyArgs),
    /// Revoke a token, or every token of a session, a user or a key.
    Revoke(revoke::RevokeArgs),
    /// Sessions: login, refresh (rotation with reuse detection), logout, logout-all, list.
    Session(session::SessionArgs),
    /// Maintain the store: purge expired entries and sessions.
    Store(store::StoreArgs),
    /// Serve JWKS, introspection, revocation, session endpoints, health and metrics over HTTP
    /// (--demo: and a demo page).
    Serve(serve::ServeArgs),
    /// Create and list the callers allowed on the service's trusted endpoints.
    Clients(clients::ClientsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:
  tollgate completions bash > ~/.local/share/bash-completion/completions/tollgate
  tollgate completions zsh > ~/.zfunc/_tollgate
  tollgate completions fish > ~/.config/fish/completions/tollgate.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

async fn run(ctx: &Context, command: Command) -> Result<Output, Error> {
    match command {
        Command::Keys(args) => keys::run(ctx, args).await,
        Command::Mint(args) => mint::run(ctx, args).await,
        Command::Inspect(args) => inspect::run(ctx, args).await,
        Command::Verify(args) => verify::run(ctx, args).await,
        Command::Revoke(args) => revoke::run(ctx, args).await,
        Command::Session(args) => session::run(ctx, args).await,
        Command::Store(args) => store::run(ctx, args).await,
        Command::Serve(args) => serve::run(ctx, args).await,
        Command::Clients(args) => clients::run(ctx, args).await,
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tollgate", &mut buf);
            Ok(Output::Text(String::from_utf8_lossy(&buf).into_owned()))
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let as_json = std::env::args_os().any(|a| a == "--json");
            output::report_usage(&e, as_json, env_source(&e).as_deref());
            return exit::code(tollgate::Class::Usage);
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let as_json = cli.global.json;
    let ctx = Context::new(cli.global);
    // The service gets a worker per core and a log subscriber; every other command runs on
    // one thread and logs nothing.
    let serving = matches!(cli.command, Command::Serve(_));
    let mut builder = if serving {
        init_logging();
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let error = Error::io(format!("cannot start the runtime: {e}"));
            output::report(&error, as_json);
            return exit::code(error.class());
        }
    };
    match runtime.block_on(run(&ctx, cli.command)) {
        Ok(out) => match output::render(out, as_json) {
            Ok(()) => ExitCode::SUCCESS,
            // A closed pipe (`tollgate keys jwks | head -1`) is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                let error = Error::io(format!("cannot write output: {e}"));
                output::report(&error, false);
                exit::code(error.class())
            }
        },
        Err(error) => {
            output::report(&error, as_json);
            exit::code(error.class())
        }
    }
}

/// The environment variable a refused value came from, when it did not come from the command
/// line: clap's message names only the flag (`--grace`), which the user may never have typed.
fn env_source(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.strip_prefix("--")?.split([' ', '=']).next()?;
    let flag = format!("--{long}");
    let typed = std::env::args_os().any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    });
    if typed {
        return None;
    }
    fn env_of(command: &clap::Command, long: &str) -> Option<std::ffi::OsString> {
        command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_env().map(ToOwned::to_owned))
            .or_else(|| command.get_subcommands().find_map(|c| env_of(c, long)))
    }
    let var = env_of(&Cli::command(), long)?;
    std::env::var_os(&var)?;
    Some(var.to_string_lossy().into_owned())
}

/// Logs of `tollgate serve` on stderr, filtered by `TOLLGATE_LOG` (default `info`). The library
/// never logs a token or a secret, only kids, jtis, client ids and kinds.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
