//! Trusted origins as a browser sends them in `Origin`, so that a configured origin can match.
//!
//! The CSRF check compares the `Origin` header with each trusted origin byte for byte, and a
//! browser serialises an origin one way only (the WHATWG URL standard): a lower-case scheme and
//! host, the port only when it is not the scheme's default, nothing else. So
//! `HTTPS://App.Example.com:443` is kept as `https://app.example.com`, and what no browser ever
//! sends (a user name, a path, a `*.` wildcard, a host without a scheme) is refused instead of
//! being kept as an entry that silently never matches.

use crate::error::{Error, Result, quoted};

/// `text` as a browser's `Origin` header would carry it.
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) naming the value and what to write instead.
pub(crate) fn normalize(text: &str) -> Result<String> {
    let refuse = |why: &str| {
        Error::usage(format!(
            "trusted origin {} {why}; an origin is scheme://host[:port], such as \
             https://app.example.com",
            quoted(text)
        ))
    };
    if text.is_empty() || text.contains(char::is_whitespace) {
        return Err(refuse("is empty or contains whitespace"));
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(refuse("has no scheme (a browser always sends one)"));
    };
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return Err(refuse("is not http or https")),
    };
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if !tail.is_empty() {
        return Err(refuse(&format!(
            "has a path, query or fragment ({}), which an Origin never has; write {scheme}://{}",
            quoted(tail),
            authority.to_ascii_lowercase()
        )));
    }
    if authority.contains('@') {
        return Err(refuse(
            "has a user name or password, which an Origin never has",
        ));
    }
    if authority.contains('*') {
        return Err(refuse(
            "has a wildcard, which never matches: a browser sends one exact origin, so list \
             each one",
        ));
    }
    if !authority.is_ascii() {
        return Err(refuse(
            "has a non-ASCII host; browsers send its punycode form (xn--…)",
        ));
    }
    let (host, port) =
        split_port(authority).ok_or_else(|| refuse("has a malformed host or port"))?;
    let host = host.to_ascii_lowercase();
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty()
            && v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    };
    if !host_ok {
        return Err(refuse("has a malformed host"));
    }
    Ok(match port {
        Some(port) if port.to_string() != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// `host[:port]` → `(host, port)`; IPv6 hosts keep their brackets. `None` for an empty or
/// non-numeric port.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let port_at = if authority.starts_with('[') {
        let close = authority.find(']')?;
        match &authority[close + 1..] {
            "" => return Some((authority, None)),
            rest if rest.starts_with(':') => close + 1,
            _ => return None,
        }
    } else {
        match authority.rfind(':') {
            Some(at) => at,
            None => return Some((authority, None)),
        }
    };
    let (host, port) = authority.split_at(port_at);
    let port = &port[1..];
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, Some(port.parse().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_17_origins_are_kept_as_a_browser_sends_them() {
        for (given, kept) in [
            ("https://app.example.com", "https://app.example.com"),
            ("HTTPS://App.Example.COM", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            ("http://app.example.com:80", "http://app.example.com"),
            ("http://localhost:8080", "http://localhost:8080"),
            (
                "https://app.example.com:8443",
                "https://app.example.com:8443",
            ),
            ("http://app.example.com:443", "http://app.example.com:443"),
            ("https://app.example.com:0443", "https://app.example.com"),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("https://[2001:DB8::1]:443", "https://[2001:db8::1]"),
            (
                "https://xn--bcher-kva.example",
                "https://xn--bcher-kva.example",
            ),
        ] {
            assert_eq!(normalize(given).unwrap(), kept, "{given}");
        }
    }

    #[test]
    fn issue_17_what_never_matches_is_refused_naming_the_value() {
        for (given, why) in [
            ("app.example.com", "no scheme"),
            ("app.example.com:443", "no scheme"),
            ("https://app.example.com/", "a path"),
            ("https://app.example.com/app", "a path"),
            ("https://app.example.com?x=1", "a path, query"),
            ("https://app.example.com#top", "fragment"),
            ("https://user@app.example.com", "user name"),
            ("https://user:pw@app.example.com", "user name"),
            ("https://*.example.com", "wildcard"),
            ("*", "no scheme"),
            ("ftp://app.example.com", "not http or https"),
            ("null", "no scheme"),
            ("https://", "malformed host"),
            ("https://app.example.com:", "malformed host or port"),
            ("https://app.example.com:99999", "malformed host or port"),
            ("https://app.example.com:https", "malformed host or port"),
            ("https://bücher.example", "punycode"),
            ("https://app example.com", "whitespace"),
            ("", "empty"),
        ] {
            let err = normalize(given).expect_err(given);
            assert_eq!(err.kind(), crate::ErrorKind::Usage, "{given}");
            let message = err.to_string();
            assert!(
                message.contains(&quoted(given)),
                "names the value: {message}"
            );
            assert!(message.contains(why), "{given}: {message}");
        }
        assert!(
            normalize("https://App.Example.com/")
                .unwrap_err()
                .to_string()
                .contains("write https://app.example.com")
        );
    }
}
