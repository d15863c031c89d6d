//! The outputs of `tollgate session` and `tollgate clients`.

use std::io::{self, Write};

use serde_json::json;
use tollgate::{SessionInfo, format_time};

use super::{BOLD, Output, pretty, relative};

/// Writes a session or clients command's output.
pub(super) fn render(
    output: Output,
    as_json: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<()> {
    match output {
        Output::ClientAdded {
            id,
            secret,
            file,
            allow,
        } => {
            if as_json {
                writeln!(
                    out,
                    "{}",
                    pretty(
                        &json!({"client_id": id, "secret": secret.as_str(), "file": file, "allow": allow})
                    )
                )?;
            } else {
                writeln!(out, "{}", secret.as_str())?;
            }
            writeln!(
                err,
                "added client {id} to {}, allowed to {}; its secret is shown only now (only its \
                 SHA-256 is kept): call with HTTP Basic {id}:<secret>",
                file.display(),
                allow.join(",")
            )?;
        }
        Output::ClientList(list) if as_json => {
            let ids: Vec<&str> = list.iter().map(|(id, _)| id.as_str()).collect();
            let callers: Vec<_> = list
                .iter()
                .map(|(id, allow)| json!({"client_id": id, "allow": allow}))
                .collect();
            writeln!(
                out,
                "{}",
                pretty(&json!({"clients": ids, "callers": callers}))
            )?
        }
        Output::ClientList(list) => {
            for (id, allow) in &list {
                writeln!(out, "{id}\t{}", allow.join(","))?;
            }
        }
        Output::ClientRemoved { id, file } if as_json => writeln!(
            out,
            "{}",
            pretty(&json!({"client_id": id, "removed": true, "file": file}))
        )?,
        Output::ClientRemoved { id, file } => {
            writeln!(out, "{id}")?;
            writeln!(
                err,
                "removed client {id} from {}; a running server refuses it within a second",
                file.display()
            )?;
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
        Output::Sessions { sub, sessions, now } => session_table(out, err, &sub, &sessions, now)?,
        // Other commands' outputs are rendered by their own modules.
        _ => {}
    }
    Ok(())
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
