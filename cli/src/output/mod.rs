//! Human and `--json` rendering; the only code that writes to stdout. Diagnostics go to stderr.
//! One file per group of commands: `keys`, `tokens` (mint, inspect, verify, revoke) and
//! `sessions` (session, clients).

mod keys;
mod sessions;
mod tokens;

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde_json::{Value, json};
use tollgate::Revoked;
use tollgate::keys::JwkSet;
use tollgate::store::Entry;
use tollgate::{Error, KeyEntry, Minted, Verified, dangerous::Unverified, format_duration};
use tollgate::{SessionInfo, TokenPair};
use zeroize::Zeroizing;

/// What a command produced.
pub(crate) enum Output {
    Key(KeyEntry),
    KeyList {
        entries: Vec<KeyEntry>,
        max_ttl: i64,
    },
    Retired {
        entry: KeyEntry,
        live_until: Option<i64>,
        now: i64,
    },
    Pruned(Vec<String>),
    Jwks(JwkSet),
    Imported(Vec<KeyEntry>),
    Exported(Zeroizing<String>),
    Minted(Minted),
    Inspected {
        unverified: Unverified,
        key: Option<KeyEntry>,
        revocations: Option<Vec<Entry>>,
        now: i64,
    },
    Revoked(Revoked),
    Verified(Verified),
    ClientAdded {
        id: String,
        secret: Zeroizing<String>,
        file: std::path::PathBuf,
        allow: Vec<&'static str>,
    },
    /// Each caller's id and permissions.
    ClientList(Vec<(String, Vec<&'static str>)>),
    ClientRemoved {
        id: String,
        file: std::path::PathBuf,
    },
    /// A session's token pair (login, refresh): JSON with or without `--json`.
    Pair(TokenPair),
    LoggedOut,
    LoggedOutAll {
        sub: String,
        ended: u64,
        kept: Option<String>,
    },
    Sessions {
        sub: String,
        sessions: Vec<SessionInfo>,
        now: i64,
    },
    /// `store purge`: what was deleted.
    Purged {
        store: String,
        entries: u64,
        sessions: u64,
    },
    Text(String),
}

pub(super) const BOLD: Style = Style::new().bold();
pub(super) const WARN: Style = AnsiColor::Yellow.on_default().bold();
pub(super) const GOOD: Style = AnsiColor::Green.on_default().bold();
pub(super) const BAD: Style = AnsiColor::Red.on_default().bold();

pub(super) fn pretty(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub(super) fn relative(t: i64, now: i64) -> String {
    let d = format_duration(std::time::Duration::from_secs(t.abs_diff(now)));
    if t >= now {
        format!("in {d}")
    } else {
        format!("{d} ago")
    }
}

/// Writes the output; an I/O error (such as a closed pipe) is returned to the caller.
pub(crate) fn render(output: Output, as_json: bool) -> io::Result<()> {
    let mut out = anstream::stdout().lock();
    let mut err = anstream::stderr().lock();
    match output {
        output @ (Output::Key(_)
        | Output::KeyList { .. }
        | Output::Retired { .. }
        | Output::Pruned(_)
        | Output::Jwks(_)
        | Output::Imported(_)
        | Output::Exported(_)) => keys::render(output, as_json, &mut out, &mut err)?,
        output @ (Output::Minted(_)
        | Output::Inspected { .. }
        | Output::Revoked(_)
        | Output::Verified(_)) => tokens::render(output, as_json, &mut out, &mut err)?,
        Output::Text(text) => write!(out, "{text}")?,
        Output::Purged {
            store,
            entries,
            sessions,
        } if as_json => writeln!(
            out,
            "{}",
            pretty(&json!({"store": store, "entries": entries, "sessions": sessions}))
        )?,
        Output::Purged {
            store,
            entries,
            sessions,
        } => writeln!(
            out,
            "purged {entries} expired revocation entr{} and {sessions} expired session(s) from {store}",
            if entries == 1 { "y" } else { "ies" }
        )?,
        output => sessions::render(output, as_json, &mut out, &mut err)?,
    }
    out.flush()
}

/// A progress line of a long-running command on stderr: `tollgate: <message>`.
pub(crate) fn notice(message: &str) {
    let _ = writeln!(anstream::stderr().lock(), "tollgate: {message}");
}

/// A warning on stderr: `tollgate: warning: <message>`.
pub(crate) fn warn(message: &str) {
    let _ = writeln!(
        anstream::stderr().lock(),
        "tollgate: {WARN}warning:{WARN:#} {message}"
    );
}

/// Reports a command-line parsing error: clap's own text on stderr (exit 2), and with `--json`
/// the contract's error object on stdout too. `env` names the environment variable the refused
/// value came from, if it did.
pub(crate) fn report_usage(error: &clap::Error, as_json: bool, env: Option<&str>) {
    let _ = error.print();
    if let Some(var) = env {
        let _ = writeln!(
            anstream::stderr().lock(),
            "tollgate: the value came from the environment variable {var}"
        );
    }
    if as_json {
        // clap's whole message: the first line alone loses what follows it, such as the
        // missing argument's name. Only the closing "For more information, try '--help'." goes.
        let rendered = error.render().to_string();
        let message = rendered
            .trim()
            .trim_start_matches("error: ")
            .trim_end_matches("For more information, try '--help'.")
            .trim_end();
        let mut v = json!({"error": {"kind": "usage", "message": message}});
        if let Some(var) = env {
            v["error"]["env"] = var.into();
        }
        let _ = writeln!(anstream::stdout().lock(), "{}", pretty(&v));
    }
}

/// Reports an error: `tollgate: <message>` and its causes on stderr; with `--json` also the
/// contract's error object on stdout.
pub(crate) fn report(error: &Error, as_json: bool) {
    let mut err = anstream::stderr().lock();
    for (i, e) in error.all().enumerate() {
        let _ = writeln!(
            err,
            "{BAD}tollgate:{BAD:#} {}{}",
            if i > 0 { "also: " } else { "" },
            e
        );
    }
    let mut source = std::error::Error::source(error);
    let mut said = vec![error.message().to_string()];
    while let Some(cause) = source {
        // Messages often end with their cause already; print only what nothing said yet.
        let text = cause.to_string();
        if !said.iter().any(|s| s.contains(&text)) {
            let _ = writeln!(err, "  caused by: {text}");
        }
        said.push(text);
        source = cause.source();
    }
    if as_json {
        let mut v = json!({"error": error.to_json()});
        if error.class() == tollgate::Class::Rejected {
            v["valid"] = false.into();
        }
        let all: Vec<Value> = error.all().map(Error::to_json).collect();
        if all.len() > 1 {
            v["errors"] = all.into();
        }
        let _ = writeln!(anstream::stdout().lock(), "{}", pretty(&v));
    }
}
