//! The outputs of `tollgate mint`, `inspect`, `verify` and `revoke`.

use std::io::{self, Write};

use serde_json::{Map, Value, json};
use tollgate::store::Entry;
use tollgate::{KeyEntry, Revoked, dangerous::Unverified, format_time};

use super::{BAD, BOLD, GOOD, Output, WARN, pretty, relative};

/// Writes a token command's output.
pub(super) fn render(
    output: Output,
    as_json: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<()> {
    match output {
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
        } => inspect(out, unverified, key, revocations, now, as_json)?,
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
        Output::Revoked(revoked) => revoked_output(out, err, revoked, as_json)?,
        // Other commands' outputs are rendered by their own modules.
        _ => {}
    }
    Ok(())
}

fn entry_json(e: &Entry) -> Value {
    json!({
        "scope": e.key.scope().as_str(),
        "revoked_at": e.revoked_at,
        "expires_at": (e.expires_at != i64::MAX).then_some(e.expires_at),
    })
}

fn revoked_output(
    out: &mut impl Write,
    err: &mut impl Write,
    revoked: Revoked,
    as_json: bool,
) -> io::Result<()> {
    match revoked {
        Revoked::Stored { jti, entry } if as_json => writeln!(
            out,
            "{}",
            pretty(&json!({
                "revoked": true,
                "scope": "token",
                "id": jti,
                "revoked_at": entry.revoked_at,
                "expires_at": entry.expires_at,
            }))
        ),
        Revoked::Stored { jti, entry } => writeln!(
            out,
            "revoked token {jti} at {}; the entry expires {}",
            format_time(entry.revoked_at),
            format_time(entry.expires_at)
        ),
        Revoked::AlreadyExpired { jti, exp } if as_json => writeln!(
            out,
            "{}",
            pretty(&json!({"revoked": false, "reason": "already_expired", "jti": jti, "exp": exp}))
        ),
        Revoked::AlreadyExpired { jti, exp } => writeln!(
            out,
            "token {jti} expired at {} (beyond every verifier's leeway); nothing to store",
            format_time(exp)
        ),
        Revoked::SessionEnded { sid } if as_json => writeln!(
            out,
            "{}",
            pretty(&json!({"revoked": true, "scope": "session", "id": sid, "sessions_ended": 1}))
        ),
        Revoked::SessionEnded { sid } => writeln!(
            out,
            "ended session {sid}: its refresh token is dead and its access tokens are revoked"
        ),
        Revoked::Scope {
            revocation,
            entry,
            sessions_ended,
            note,
        } => {
            if let Some(note) = &note {
                writeln!(err, "tollgate: {WARN}note:{WARN:#} {note}")?;
            }
            let scope = revocation.scope;
            let expires_at = entry.map(|e| e.expires_at);
            if as_json {
                let mut v = json!({
                    "revoked": true,
                    "scope": scope.as_str(),
                    "id": revocation.id,
                    "revoked_at": revocation.revoked_at,
                    "expires_at": expires_at,
                });
                if !revocation.namespace.is_own() {
                    v["namespace"] = revocation.namespace.label().into();
                }
                if matches!(
                    scope,
                    tollgate::store::Scope::Session | tollgate::store::Scope::User
                ) {
                    v["sessions_ended"] = sessions_ended.into();
                }
                if let Some(note) = note {
                    v["note"] = note.into();
                }
                return writeln!(out, "{}", pretty(&v));
            }
            let what = match scope {
                tollgate::store::Scope::Global => "every token".to_string(),
                scope if revocation.namespace.is_own() => format!("{scope} {}", revocation.id),
                scope => format!("{scope} {} of {}", revocation.id, revocation.namespace),
            };
            let ended = match scope {
                _ if !revocation.namespace.is_own() => String::new(),
                tollgate::store::Scope::Session if sessions_ended == 0 => String::new(),
                tollgate::store::Scope::Session => " and ended the session".into(),
                tollgate::store::Scope::User => format!(" and ended {sessions_ended} session(s)"),
                _ => String::new(),
            };
            let until = match expires_at {
                Some(t) => format!("; the entry expires {}", format_time(t)),
                None => "; it had ended already, and its tokens were revoked then".into(),
            };
            writeln!(
                out,
                "revoked {what} at {}{ended}{until}",
                format_time(revocation.revoked_at)
            )
        }
    }
}

pub(super) fn inspect(
    out: &mut impl Write,
    u: Unverified,
    key: Option<KeyEntry>,
    revocations: Option<Vec<Entry>>,
    now: i64,
    as_json: bool,
) -> io::Result<()> {
    let time = |name: &str| u.claims.get(name).and_then(Value::as_i64);
    let expired = time("exp").map(|exp| exp < now);
    if as_json {
        let mut v = json!({"header": u.header, "claims": u.claims, "verified": false});
        if u.unsigned {
            v["unsigned"] = true.into();
        }
        if let Some(expired) = expired {
            v["expired"] = expired.into();
        }
        if let Some(k) = &key {
            v["key"] = json!({"kid": k.kid, "alg": k.alg, "state": k.state});
        }
        if let Some(r) = &revocations {
            v["revoked"] = (!r.is_empty()).into();
            v["revocations"] = r.iter().map(entry_json).collect::<Vec<_>>().into();
        }
        return writeln!(out, "{}", pretty(&v));
    }
    if u.unsigned {
        writeln!(
            out,
            "{WARN}UNSIGNED{WARN:#}: this token carries no signature (alg none or an empty \
             signature); anyone could have written it, and nothing ever accepts it"
        )?;
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
                e.key.scope(),
                format_time(e.revoked_at)
            )?;
        }
    }
    Ok(())
}
