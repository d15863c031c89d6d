//! The outputs of `tollgate keys`.

use std::io::{self, Write};

use anstyle::Style;
use serde_json::{Value, json};
use tollgate::{KeyEntry, KeyState, format_time};

use super::{BAD, BOLD, GOOD, Output, WARN, pretty, relative};

/// Writes a key command's output.
pub(super) fn render(
    output: Output,
    as_json: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<()> {
    match output {
        Output::Key(e) if as_json => writeln!(out, "{}", pretty(&e))?,
        Output::Key(e) => {
            writeln!(out, "{}", e.kid)?;
            writeln!(err, "{} key {} is {}", e.alg, e.kid, e.state)?;
        }
        Output::KeyList { entries, max_ttl } if as_json => {
            let keys: Vec<Value> = entries.iter().map(|e| entry_json(e, max_ttl)).collect();
            writeln!(
                out,
                "{}",
                pretty(&json!({"keys": keys, "max_ttl": max_ttl}))
            )?;
        }
        Output::KeyList { entries, max_ttl } => {
            let width = entries
                .iter()
                .map(|e| e.kid.len())
                .max()
                .unwrap_or(3)
                .max(3);
            writeln!(
                out,
                "{BOLD}{:<width$}  {:<6} {:<8} {:<20}  TOKENS VALID UNTIL{BOLD:#}",
                "KID", "ALG", "STATE", "CREATED"
            )?;
            for e in &entries {
                let until = e
                    .tokens_valid_until(max_ttl)
                    .map(format_time)
                    .unwrap_or_else(|| "-".into());
                let style = match e.state {
                    KeyState::Active => GOOD,
                    KeyState::Retired => BAD,
                    _ => Style::new(),
                };
                writeln!(
                    out,
                    "{:<width$}  {:<6} {style}{:<8}{style:#} {:<20}  {until}",
                    e.kid,
                    e.alg.as_str(),
                    e.state.as_str(),
                    format_time(e.created)
                )?;
            }
        }
        Output::Retired {
            entry,
            live_until,
            now,
        } => {
            let warning = live_until.filter(|t| *t > now).map(|t| {
                format!(
                    "tokens signed by {} may still be live until {} ({}); they are rejected from now on",
                    entry.kid,
                    format_time(t),
                    relative(t, now)
                )
            });
            if let Some(w) = &warning {
                writeln!(err, "{WARN}warning:{WARN:#} {w}")?;
            }
            if as_json {
                writeln!(
                    out,
                    "{}",
                    pretty(&json!({"kid": entry.kid, "state": entry.state, "warning": warning}))
                )?;
            } else {
                writeln!(out, "{}", entry.kid)?;
            }
        }
        Output::Pruned(kids) if as_json => writeln!(out, "{}", pretty(&json!({"pruned": kids})))?,
        Output::Pruned(kids) => {
            for kid in &kids {
                writeln!(out, "{kid}")?;
            }
            writeln!(err, "pruned {} retired key(s)", kids.len())?;
        }
        Output::Jwks(set) => writeln!(out, "{}", pretty(&set))?,
        Output::Imported(entries) if as_json => {
            writeln!(out, "{}", pretty(&json!({"imported": entries})))?
        }
        Output::Imported(entries) => {
            for e in &entries {
                writeln!(out, "{}", e.kid)?;
            }
        }
        Output::Exported(text) => write!(out, "{}", text.as_str())?,
        // Other commands' outputs are rendered by their own modules.
        _ => {}
    }
    Ok(())
}

fn entry_json(e: &KeyEntry, max_ttl: i64) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(until) = e.tokens_valid_until(max_ttl) {
        v["tokens_valid_until"] = until.into();
    }
    v
}
