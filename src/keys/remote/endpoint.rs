//! The JWKS URL: which schemes and hosts are accepted, and how it is shown in messages.

use std::net::IpAddr;

use http::Uri;

use crate::error::{Error, Result, quoted};

/// A checked JWKS URL.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    /// The URL requested.
    pub(super) uri: Uri,
    /// The URL as shown in messages, logs and status: without credentials or query.
    pub(super) shown: String,
}

impl Endpoint {
    /// Checks a JWKS URL: `https://`, or `http://` for a loopback host only (127.0.0.0/8, `::1`,
    /// `localhost`); no credentials in it.
    ///
    /// # Errors
    ///
    /// `usage`, naming the URL (without its query) and what to change.
    pub(super) fn parse(url: &str) -> Result<Endpoint> {
        let shown = redact(url);
        let uri: Uri = url.parse().map_err(|e| {
            Error::usage(format!(
                "JWKS URL {} is not a valid URL ({e}); give one like \
                 https://issuer.example/.well-known/jwks.json",
                quoted(&shown)
            ))
        })?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(Error::usage(format!(
                "JWKS URL {} is not absolute; give one like \
                 https://issuer.example/.well-known/jwks.json",
                quoted(&shown)
            )));
        };
        if authority.as_str().contains('@') {
            return Err(Error::usage(format!(
                "JWKS URL {} carries credentials; a JWK Set is public, fetch it without them",
                quoted(&shown)
            )));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "https" => {}
            "http" if is_loopback(authority.host()) => {}
            "http" => {
                return Err(Error::usage(format!(
                    "JWKS URL {} is plain http to a host that is not loopback; use https:// \
                     (http:// is accepted only for 127.0.0.0/8, ::1 and localhost)",
                    quoted(&shown)
                )));
            }
            other => {
                return Err(Error::usage(format!(
                    "JWKS URL {} has scheme {}; use https://",
                    quoted(&shown),
                    quoted(other)
                )));
            }
        }
        Ok(Endpoint { uri, shown })
    }

    /// The host a `Location` header points to, for the message refusing a redirect: its own
    /// host for a relative reference.
    pub(super) fn location_host(&self, location: Option<&str>) -> String {
        let Some(location) = location else {
            return "(no Location header)".to_owned();
        };
        match location.parse::<Uri>() {
            Ok(target) => match target.host() {
                Some(host) => host.to_owned(),
                None => self.uri.host().unwrap_or_default().to_owned(),
            },
            Err(_) => quoted(&redact(location)),
        }
    }
}

/// Whether a URL host is a loopback address or `localhost`.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A URL as it may be shown: credentials replaced by `…@`, query and fragment by `?…`.
fn redact(url: &str) -> String {
    let (base, cut) = match url.find(['?', '#']) {
        Some(at) => (&url[..at], true),
        None => (url, false),
    };
    let mut shown = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://…@{host}{path}"),
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if cut {
        shown.push_str("?…");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn refused(url: &str) -> String {
        let err = Endpoint::parse(url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage, "{url}");
        err.message().to_owned()
    }

    #[test]
    fn https_anywhere_and_http_on_loopback_only() {
        for url in [
            "https://issuer.example/.well-known/jwks.json",
            "https://issuer.example:8443",
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/jwks",
            "http://[::1]:8080/jwks",
            "http://LOCALHOST/jwks",
        ] {
            assert!(Endpoint::parse(url).is_ok(), "{url}");
        }
        for url in [
            "http://issuer.example/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.example/jwks",
            "http://[::ffff:127.0.0.1]/jwks",
        ] {
            assert!(refused(url).contains("not loopback"), "{url}");
        }
        assert!(refused("ftp://issuer.example/jwks").contains("scheme"));
        assert!(refused("/jwks").contains("not absolute"));
    }

    #[test]
    fn messages_never_show_credentials_or_query() {
        let message = refused("https://user:hunter2@issuer.example/jwks?token=abc");
        assert!(message.contains("credentials"), "{message}");
        assert!(
            !message.contains("hunter2") && !message.contains("abc"),
            "{message}"
        );
        let shown = Endpoint::parse("https://issuer.example/jwks?api_key=s3cret")
            .unwrap()
            .shown;
        assert_eq!(shown, "https://issuer.example/jwks?…");
        let message = refused("http://issuer.example/jwks?api_key=s3cret");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn a_relative_location_points_to_the_same_host() {
        let endpoint = Endpoint::parse("https://issuer.example/jwks").unwrap();
        assert_eq!(endpoint.location_host(Some("/elsewhere")), "issuer.example");
        assert_eq!(
            endpoint.location_host(Some("https://evil.example/jwks")),
            "evil.example"
        );
        assert_eq!(endpoint.location_host(None), "(no Location header)");
    }
}
