//! `tollgate keys`: generate, rotate, list, retire, prune, jwks, import, export.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use tollgate::{Algorithm, Error, ErrorKind, ExportFormat, Result, parse_duration};

use crate::args::duration_help;
use crate::context::{Context, read_input};
use crate::output::{self, Output};

/// Manage the keyring.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tollgate keys generate --alg ES256
  tollgate keys rotate --stage && tollgate keys rotate
  tollgate keys list
  tollgate keys retire KID
  tollgate keys prune --older-than 30d
  tollgate keys jwks > jwks.json
  tollgate keys import issuer-jwks.json
  tollgate keys export KID --format pem")]
pub(crate) struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a key; the first key of an empty keyring becomes active, later ones `next`.
    /// Prints the kid.
    #[command(after_help = "Examples:
  tollgate keys generate                 # EdDSA; active in an empty keyring, else `next`
  tollgate keys generate --alg ES256 --kid es-2027
A keyring holds at most one `next` key: promote it with `keys rotate` before adding another.")]
    Generate {
        /// Algorithm: EdDSA, ES256, ES384, RS256, RS384, RS512, PS256, PS384, PS512, HS256,
        /// HS384, HS512.
        #[arg(long, default_value = "EdDSA")]
        alg: Algorithm,
        /// Key id (default: the RFC 7638 thumbprint; random for HS keys).
        #[arg(long)]
        kid: Option<String>,
    },
    /// A new key signs from now on; the previous active key becomes verify-only.
    /// Promotes the staged `next` key when there is one.
    #[command(after_help = "Examples:
  tollgate keys rotate                   # promote the `next` key, or a new key signs now
  tollgate keys rotate --stage           # publish a `next` key; rotate again after --jwks-max-age")]
    Rotate {
        /// Algorithm of the new key (default: the active key's).
        #[arg(long)]
        alg: Option<Algorithm>,
        /// Only add a `next` key: published in JWKS, signing after the following rotate.
        #[arg(long)]
        stage: bool,
    },
    /// List keys: kid, alg, state, created, and until when a verify key's tokens may be valid.
    #[command(after_help = "Examples:
  tollgate keys list
  tollgate keys list --json | jq -r '.[] | select(.state == \"verify\") | .kid'")]
    List,
    /// Stop accepting tokens signed by KID (kind `retired_kid`).
    #[command(after_help = "Example:
  tollgate keys retire KID               # see `tollgate keys list` for the kids")]
    Retire {
        /// The key to retire.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Delete retired keys.
    #[command(after_help = "Examples:
  tollgate keys prune
  tollgate keys prune --older-than 30d")]
    Prune {
        #[arg(
            long,
            value_name = "DURATION",
            value_parser = parse_duration,
            help = duration_help!("Only keys retired at least this long ago, such as 30d (default: every retired key).")
        )]
        older_than: Option<Duration>,
    },
    /// Print the JWK Set (RFC 7517) of next, active and verify public keys.
    #[command(after_help = "Example:
  tollgate keys jwks > jwks.json")]
    Jwks,
    /// Add public keys as verify-only: PEM (anywhere in the file) or DER SPKI or certificate,
    /// JWK, or JWK Set; FILE may be `-`. Never private keys or secrets.
    #[command(after_help = "Examples:
  tollgate keys import issuer-public.pem --alg RS256 --iss https://issuer.example
  curl -s https://issuer.example/.well-known/jwks.json | tollgate keys import -")]
    Import {
        /// The file to import.
        file: String,
        /// Key id (default: the JWK's kid, else the thumbprint).
        #[arg(long)]
        kid: Option<String>,
        /// Algorithm when the input does not name one (default by key type: EdDSA, ES256,
        /// ES384, RS256).
        #[arg(long)]
        alg: Option<Algorithm>,
        /// Bind the keys to this issuer: they accept only tokens whose `iss` is it, and its
        /// tokens' ids (jti, sid, sub) are kept apart from every other issuer's. Without it,
        /// each key is its own namespace and refuses tokens claiming this keyring's issuer.
        #[arg(long, value_name = "ISSUER")]
        iss: Option<String>,
    },
    /// Print a key: public by default.
    #[command(after_help = "Examples:
  tollgate keys export KID               # public JWK
  tollgate keys export KID --format pem
  tollgate keys export KID --private     # private material: only with --private")]
    Export {
        /// The key to export.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Print the private key (PKCS#8 PEM, or JWK for HS, EdDSA and EC keys).
        #[arg(long)]
        private: bool,
        /// Output format (default: jwk; pem for private asymmetric keys).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Jwk,
    Pem,
}

pub(crate) async fn run(ctx: &Context, args: KeysArgs) -> Result<Output> {
    let clock = &ctx.clock;
    Ok(match args.command {
        KeysCommand::Generate { alg, kid } => {
            Output::Key(ctx.keyring_init()?.generate(alg, kid.as_deref(), clock)?)
        }
        KeysCommand::Rotate { alg, stage } => {
            Output::Key(ctx.keyring_init()?.rotate(alg, stage, clock)?)
        }
        KeysCommand::List => {
            let keyring = ctx.keyring()?;
            Output::KeyList {
                entries: keyring.entries().to_vec(),
                max_ttl: keyring.max_ttl(),
            }
        }
        KeysCommand::Retire { kid } => {
            let mut keyring = ctx.keyring()?;
            let entry = keyring.retire(&kid, clock)?;
            let live_until = entry.tokens_valid_until(keyring.max_ttl());
            Output::Retired {
                entry,
                live_until,
                now: clock.now(),
            }
        }
        KeysCommand::Prune { older_than } => {
            let pruned = ctx
                .keyring()?
                .prune(older_than.unwrap_or_default(), clock)?;
            Output::Pruned(pruned)
        }
        KeysCommand::Jwks => Output::Jwks(ctx.keyring()?.jwks()),
        KeysCommand::Import {
            file,
            kid,
            alg,
            iss,
        } => {
            let bytes = read_input(&file)?;
            let imported = ctx
                .keyring_init()?
                .import(&bytes, kid.as_deref(), alg, iss.as_deref(), clock)
                .map_err(|e| match e.kind() {
                    // Name the input, as --key FILE refusals do.
                    ErrorKind::BadKey => Error::bad_key(format!("{file}: {}", e.message())),
                    _ => e,
                })?;
            for reason in &imported.skipped {
                output::warn(reason);
            }
            Output::Imported(imported.entries)
        }
        KeysCommand::Export {
            kid,
            private,
            format,
        } => {
            let format = format.map(|f| match f {
                Format::Jwk => ExportFormat::Jwk,
                Format::Pem => ExportFormat::Pem,
            });
            Output::Exported(ctx.keyring()?.export(&kid, private, format)?)
        }
    })
}
