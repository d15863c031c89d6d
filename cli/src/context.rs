//! Builds the library objects the commands need from the global options, once.

use std::io::Read;

use tollgate::{Clock, Error, Keyring, Result};

use crate::args::GlobalArgs;

/// What every command runs against.
pub(crate) struct Context {
    pub(crate) args: GlobalArgs,
    pub(crate) clock: Clock,
}

impl Context {
    pub(crate) fn new(args: GlobalArgs) -> Context {
        let clock = args.now.map_or(Clock::System, Clock::fixed);
        Context { args, clock }
    }

    /// The existing keyring (exit 3, `bad_key`, when it is missing or unreadable).
    pub(crate) fn keyring(&self) -> Result<Keyring> {
        Keyring::open(&self.args.keys)
    }

    /// The keyring, creating its directory (0700) when absent.
    pub(crate) fn keyring_init(&self) -> Result<Keyring> {
        Keyring::init(&self.args.keys)
    }
}

/// Reads a TOKEN argument: the token itself, `-` (or nothing) for stdin, or `@FILE`.
pub(crate) fn read_token(arg: Option<&str>) -> Result<String> {
    let text = match arg {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::usage(format!("cannot read the token from stdin: {e}")))?;
            s
        }
        Some(arg) => match arg.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| Error::usage(format!("cannot read token file {path}: {e}")))?,
            None => arg.to_string(),
        },
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::usage(
            "no token given; pass it as an argument, `-` for stdin, or @FILE",
        ));
    }
    Ok(token.to_string())
}

/// Reads a FILE argument that may be `-` for stdin.
pub(crate) fn read_input(path: &str) -> Result<Vec<u8>> {
    if path == "-" {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| Error::usage(format!("cannot read stdin: {e}")))?;
        return Ok(v);
    }
    std::fs::read(path).map_err(|e| Error::usage(format!("cannot read {path}: {e}")))
}
