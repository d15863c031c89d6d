//! Human and `--json` rendering; the only code that writes to stdout. Diagnostics go to stderr.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde_json::{Map, Value, json};
use tollgate::Revoked;
use tollgate::keys::JwkSet;
use tollgate::store::{Revocation, Scope};
use tollgate::{
    Error, KeyEntry, KeyState, Minted, Verified, dangerous::Unverified, format_duration,
    format_time,
};
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
        revocations: Option<Vec<Revocation>>,
        now: i64,
    },
    Revoked(Revoked),
    Verified(Verified),
    ClientAdded {
        id: String,
        secret: Zeroizing<String>,
        file: std::path::PathBuf,
    },
    ClientList(Vec<String>),
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
    Text(String),
}

const BOLD: Style = Style::new().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();
const GOOD: Style = AnsiColor::Green.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();

fn pretty(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn relative(t: i64, now: i64) -> String {
    let d = format_duration(std::time::Duration::from_secs(t.abs_diff(now)));
    if t >= now {
        format!("in {d}")
    } else {
        format!("{d} ago")
    }
}

fn entry_json(e: &KeyEntry, max_ttl: i64) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(until) = e.tokens_valid_until(max_ttl) {
        v["tokens_valid_until"] = until.into();
    }
    v
}

/// Writes the output; an I/O error (such as a closed pipe) is returned to the caller.
pub(crate) fn render(output: Output, as_json: bool) -> io::Result<()> {
    let mut out = anstream::stdout().lock();
    let mut err = anstream::stderr().lock();
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
        Output::Minted(m) if as_json => writeln!(
            out,
            "{}",
            pretty(&json!({"token": m.token, "kid": m.kid, "claims": m.claims}))
        )?,
        Output::Minted(m) => writeln!(out, "{}", m.token)?,
        Output::Inspected {
            unverified,
            key,
            revocations,
            now,
        } => inspect(&mut out, unverified, key, revocations, now, as_json)?,
        Output::Revoked(Revoked::Stored(e)) if as_json => writeln!(
            out,
            "{}",
            pretty(
                &json!({"revoked": true, "scope": e.scope.as_str(), "id": e.id, "revoked_at": e.revoked_at, "expires_at": e.expires_at})
            )
        )?,
        Output::Revoked(Revoked::Stored(e)) => {
            let what = if e.id.is_empty() {
                "every token".to_string()
            } else {
                format!("{} {}", e.scope, e.id)
            };
            writeln!(
                out,
                "revoked {what} at {}; the entry expires {}",
                format_time(e.revoked_at),
                format_time(e.expires_at)
            )?;
        }
        Output::Revoked(Revoked::Scope {
            entry,
            sessions_ended,
        }) if as_json => {
            let mut v = revocation_json(&entry);
            v["revoked"] = true.into();
            if matches!(entry.scope, Scope::Session | Scope::User) {
                v["sessions_ended"] = sessions_ended.into();
            }
            writeln!(out, "{}", pretty(&v))?
        }
        Output::Revoked(Revoked::Scope {
            entry,
            sessions_ended,
        }) => {
            let what = match entry.scope {
                Scope::Global => "every token".to_string(),
                scope => format!("{scope} {}", entry.id),
            };
            let ended = match entry.scope {
                Scope::Session if sessions_ended == 0 => " (no live session had that id)".into(),
                Scope::Session => " and ended the session".into(),
                Scope::User => format!(" and ended {sessions_ended} session(s)"),
                _ => String::new(),
            };
            writeln!(
                out,
                "revoked {what} at {}{ended}; the entry expires {}",
                format_time(entry.revoked_at),
                format_time(entry.expires_at)
            )?
        }
        Output::Revoked(Revoked::SessionEnded { sid }) if as_json => writeln!(
            out,
            "{}",
            pretty(&json!({"revoked": true, "scope": "session", "id": sid, "sessions_ended": 1}))
        )?,
        Output::Revoked(Revoked::SessionEnded { sid }) => writeln!(
            out,
            "ended session {sid}: its refresh token is dead and its access tokens are revoked"
        )?,
        Output::Revoked(Revoked::AlreadyExpired { jti, exp }) if as_json => writeln!(
            out,
            "{}",
            pretty(&json!({"revoked": false, "reason": "already_expired", "jti": jti, "exp": exp}))
        )?,
        Output::Revoked(Revoked::AlreadyExpired { jti, exp }) => {
            writeln!(
                out,
                "token {jti} expired at {}; nothing to store",
                format_time(exp)
            )?;
        }
        Output::Verified(v) if as_json => writeln!(
            out,
            "{}",
            pretty(
                &json!({"valid": true, "header": v.header, "claims": v.claims, "key_state": v.key_state})
            )
        )?,
        Output::Verified(v) => {
            writeln!(
                err,
                "{GOOD}valid{GOOD:#}: signed by {} ({})",
                v.header.kid.as_deref().unwrap_or("the given key"),
                v.key_state
            )?;
            writeln!(out, "{}", pretty(&v.claims))?;
        }
        Output::ClientAdded { id, secret, file } => {
            if as_json {
                writeln!(
                    out,
                    "{}",
                    pretty(&json!({"client_id": id, "secret": secret.as_str(), "file": file}))
                )?;
            } else {
                writeln!(out, "{}", secret.as_str())?;
            }
            writeln!(
                err,
                "added client {id} to {}; its secret is shown only now (only its SHA-256 is kept): \
                 call with HTTP Basic {id}:<secret>",
                file.display()
            )?;
        }
        Output::ClientList(ids) if as_json => {
            writeln!(out, "{}", pretty(&json!({"clients": ids})))?
        }
        Output::ClientList(ids) => {
            for id in &ids {
                writeln!(out, "{id}")?;
            }
        }
        Output::Pair(pair) => writeln!(out, "{}", pretty(&pair))?,
        Output::LoggedOut if as_json => writeln!(out, "{}", pretty(&json!({"logged_out": true})))?,
        Output::LoggedOut => writeln!(
            out,
            "logged out: the session ended and its access tokens are revoked"
        )?,
        Output::LoggedOutAll { sub, ended, kept } if as_json => {
            let mut v = json!({"sub": sub, "ended": ended});
            if let Some(kept) = kept {
                v["kept"] = kept.into();
            }
            writeln!(out, "{}", pretty(&v))?;
        }
        Output::LoggedOutAll {
            sub,
            ended,
            kept: None,
        } => writeln!(
            out,
            "ended {ended} session(s) of {sub}; every token issued to {sub} up to now is revoked"
        )?,
        Output::LoggedOutAll {
            sub,
            ended,
            kept: Some(kept),
        } => writeln!(
            out,
            "ended {ended} other session(s) of {sub}; kept session {kept}"
        )?,
        Output::Sessions { sub, sessions, .. } if as_json => writeln!(
            out,
            "{}",
            pretty(&json!({"sub": sub, "sessions": sessions}))
        )?,
        Output::Sessions { sub, sessions, now } => {
            session_table(&mut out, &mut err, &sub, &sessions, now)?
        }
        Output::Text(text) => write!(out, "{text}")?,
    }
    out.flush()
}

fn session_table(
    out: &mut impl Write,
    err: &mut impl Write,
    sub: &str,
    sessions: &[SessionInfo],
    now: i64,
) -> io::Result<()> {
    if sessions.is_empty() {
        return writeln!(err, "no live sessions of {sub}");
    }
    writeln!(
        out,
        "{BOLD}{:<36}  {:<20}  {:<14}  {:<14}  {:<8}  DEVICE{BOLD:#}",
        "SESSION", "CREATED", "LAST USED", "EXPIRES", "REMEMBER"
    )?;
    for s in sessions {
        let device = match (&s.device.user_agent, &s.device.ip) {
            (Some(ua), Some(ip)) => format!("{ua} ({ip})"),
            (Some(one), None) | (None, Some(one)) => one.clone(),
            (None, None) => "-".into(),
        };
        // Device strings come from clients: escape control characters.
        let device: String = device.escape_debug().collect();
        writeln!(
            out,
            "{:<36}  {:<20}  {:<14}  {:<14}  {:<8}  {device}",
            s.sid,
            format_time(s.created),
            relative(s.last_used, now),
            relative(s.expires_at, now),
            if s.remember_me { "yes" } else { "no" },
        )?;
    }
    Ok(())
}

fn revocation_json(e: &Revocation) -> Value {
    json!({"scope": e.scope.as_str(), "id": e.id, "revoked_at": e.revoked_at, "expires_at": e.expires_at})
}

fn inspect(
    out: &mut impl Write,
    u: Unverified,
    key: Option<KeyEntry>,
    revocations: Option<Vec<Revocation>>,
    now: i64,
    as_json: bool,
) -> io::Result<()> {
    let time = |name: &str| u.claims.get(name).and_then(Value::as_i64);
    let expired = time("exp").map(|exp| exp < now);
    if as_json {
        let mut v = json!({"header": u.header, "claims": u.claims, "verified": false});
        if let Some(expired) = expired {
            v["expired"] = expired.into();
        }
        if let Some(k) = &key {
            v["key"] = json!({"kid": k.kid, "alg": k.alg, "state": k.state});
        }
        if let Some(r) = &revocations {
            v["revoked"] = (!r.is_empty()).into();
            v["revocations"] = r.iter().map(revocation_json).collect::<Vec<_>>().into();
        }
        return writeln!(out, "{}", pretty(&v));
    }
    writeln!(
        out,
        "{WARN}UNVERIFIED{WARN:#}: signature and claims have NOT been checked; use `tollgate verify`"
    )?;
    let section = |out: &mut dyn Write, title: &str, map: &Map<String, Value>| -> io::Result<()> {
        writeln!(out, "{BOLD}{title}{BOLD:#}")?;
        for (k, v) in map {
            // Names come from an untrusted token: JSON-escape them like the values.
            writeln!(out, "  {}: {v}", Value::from(k.as_str()))?;
        }
        Ok(())
    };
    section(out, "header (unverified)", &u.header)?;
    section(out, "claims (unverified)", &u.claims)?;
    writeln!(out, "{BOLD}times{BOLD:#}")?;
    if let Some(iat) = time("iat") {
        writeln!(
            out,
            "  issued:  {} ({})",
            format_time(iat),
            relative(iat, now)
        )?;
    }
    if let Some(nbf) = time("nbf") {
        writeln!(
            out,
            "  valid from: {} ({})",
            format_time(nbf),
            relative(nbf, now)
        )?;
    }
    match time("exp") {
        Some(exp) if exp < now => writeln!(
            out,
            "  expires: {} ({BAD}expired{BAD:#} {})",
            format_time(exp),
            relative(exp, now)
        )?,
        Some(exp) => writeln!(
            out,
            "  expires: {} (not expired; {})",
            format_time(exp),
            relative(exp, now)
        )?,
        None => writeln!(
            out,
            "  expires: never (no exp claim; verify will reject it)"
        )?,
    }
    if let Some(k) = key {
        writeln!(
            out,
            "{BOLD}key{BOLD:#}\n  {} ({}), {}",
            k.kid, k.alg, k.state
        )?;
    }
    if let Some(r) = revocations {
        writeln!(out, "{BOLD}revocation{BOLD:#}")?;
        if r.is_empty() {
            writeln!(
                out,
                "  not revoked (token, session, user, key and global scopes checked)"
            )?;
        }
        for e in r {
            writeln!(
                out,
                "  {BAD}revoked{BAD:#} by its {} since {}",
                e.scope,
                format_time(e.revoked_at)
            )?;
        }
    }
    Ok(())
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
