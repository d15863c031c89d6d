//! `postgres://` and `postgresql://` URLs.

use super::*;

/// How a PostgreSQL store protects its connections (`?sslmode=`, libpq's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SslMode {
    /// Plain TCP (the default, as for `redis://`): for loopback, a Unix socket or a private
    /// network.
    #[default]
    Disable,
    /// TLS, without checking the server's certificate (libpq's `require`): it defeats a
    /// passive eavesdropper only.
    Require,
    /// TLS, with the server's certificate checked against the roots (`sslrootcert=FILE`, or
    /// the system's) and its name against the host.
    VerifyFull,
}

impl SslMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// A parsed `postgres://` or `postgresql://` URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PostgresUrl {
    pub(crate) username: String,
    pub(crate) password: Option<String>,
    /// `(host, port)` pairs, tried in order; a host starting with `/` is the directory of a
    /// Unix socket (percent-encoded in the URL: `%2Frun%2Fpostgresql`).
    pub(crate) hosts: Vec<(String, u16)>,
    pub(crate) dbname: String,
    pub(crate) sslmode: SslMode,
    /// PEM file of the roots that `verify-full` trusts (default: the system's).
    pub(crate) sslrootcert: Option<String>,
    /// `?channel_binding=require`: refuse a SCRAM login not bound to the TLS channel (libpq's
    /// option; `prefer`, the default, binds whenever the server and the certificate allow).
    pub(crate) channel_binding_required: bool,
    pub(crate) timeout: Duration,
    /// Most connections the pool keeps (`?pool=`, 8 by default).
    pub(crate) pool: usize,
    /// The maximum leeway asked for (`?max_leeway=`), recorded in the store if larger.
    pub(crate) max_leeway: Option<i64>,
}

impl std::fmt::Debug for PostgresUrl {
    // The password never reaches a log or a message, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl PostgresUrl {
    /// The URL for messages and logs: the password replaced by `***`, the options that change
    /// where or how it connects kept.
    pub(crate) fn redacted(&self) -> String {
        let auth = match &self.password {
            Some(_) => format!("{}:***@", pct_encode(&self.username)),
            None => format!("{}@", pct_encode(&self.username)),
        };
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|(h, p)| {
                if h.starts_with('/') {
                    pct_encode(h)
                } else if h.contains(':') {
                    format!("[{h}]:{p}")
                } else {
                    format!("{h}:{p}")
                }
            })
            .collect();
        let mut out = format!(
            "postgres://{auth}{}/{}",
            hosts.join(","),
            pct_encode(&self.dbname)
        );
        if self.sslmode != SslMode::Disable {
            out.push_str(&format!("?sslmode={}", self.sslmode.as_str()));
        }
        out
    }

    pub(super) fn parse(rest: &str, bad: &dyn Fn(&str) -> Error) -> Result<PostgresUrl> {
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, q),
            None => (rest, ""),
        };
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("postgres needs a database: postgres://USER@HOST/DB"))?;
        let (userinfo, hosts) = authority
            .rsplit_once('@')
            .ok_or_else(|| bad("postgres needs a user: postgres://USER@HOST/DB"))?;
        let (user, pass) = match userinfo.split_once(':') {
            Some((user, pass)) => (user, Some(pass)),
            None => (userinfo, None),
        };
        let decode = |text: &str| pct_decode(text).ok_or_else(|| bad("bad percent-encoding"));
        let username = decode(user)?;
        if username.is_empty() {
            return Err(bad("postgres needs a user: postgres://USER@HOST/DB"));
        }
        let password = pass.map(decode).transpose()?;
        let mut parsed_hosts = Vec::new();
        for node in hosts.split(',') {
            let host = match parse_host_port(node) {
                Some(pair) => pair,
                None => {
                    // No port: a bare name, a bracketed IPv6 address, or a socket directory.
                    let bare = match node.strip_prefix('[') {
                        Some(inner) => inner
                            .strip_suffix(']')
                            .ok_or_else(|| bad("expected HOST[:PORT]"))?,
                        None if node.contains(':') => return Err(bad("expected HOST[:PORT]")),
                        None => node,
                    };
                    let host = decode(bare)?;
                    let socket = host.starts_with('/');
                    if host.is_empty()
                        || host.contains(['@', ' '])
                        || (!socket && host.contains('/'))
                    {
                        return Err(bad("expected HOST[:PORT]"));
                    }
                    (host, POSTGRES_PORT)
                }
            };
            parsed_hosts.push(host);
        }
        if path.contains('/') {
            return Err(bad(
                "expected one database name after the host: postgres://USER@HOST/DB",
            ));
        }
        let dbname = decode(path)?;
        if dbname.is_empty() {
            return Err(bad("postgres needs a database: postgres://USER@HOST/DB"));
        }
        let mut url = PostgresUrl {
            username,
            password,
            hosts: parsed_hosts,
            dbname,
            sslmode: SslMode::Disable,
            sslrootcert: None,
            channel_binding_required: false,
            timeout: DEFAULT_TIMEOUT,
            pool: POSTGRES_POOL,
            max_leeway: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", value)) => {
                    url.sslmode = match value {
                        "disable" => SslMode::Disable,
                        "require" => SslMode::Require,
                        "verify-full" => SslMode::VerifyFull,
                        _ => return Err(bad("sslmode is disable, require or verify-full")),
                    }
                }
                Some(("sslrootcert", value)) => {
                    let value = decode(value)?;
                    if value.is_empty() {
                        return Err(bad("sslrootcert names a PEM file"));
                    }
                    url.sslrootcert = Some(value);
                }
                Some(("channel_binding", value)) => {
                    url.channel_binding_required = match value {
                        "prefer" => false,
                        "require" => true,
                        _ => return Err(bad("channel_binding is prefer or require")),
                    }
                }
                Some(("timeout", value)) => {
                    url.timeout = parse_timeout(value)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| bad("timeout is a duration such as 2s or 500ms"))?;
                }
                Some(("pool", value)) => {
                    url.pool = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| bad("pool is a number of connections from 1 to 1000"))?;
                }
                Some(("max_leeway", value)) => {
                    url.max_leeway = Some(parse_max_leeway(value).map_err(&bad)?);
                }
                _ => {
                    return Err(bad(
                        "unknown query parameter; use sslmode=, sslrootcert=, channel_binding=, timeout=, pool= or max_leeway=",
                    ));
                }
            }
        }
        if url.sslrootcert.is_some() && url.sslmode != SslMode::VerifyFull {
            return Err(bad("sslrootcert= needs sslmode=verify-full"));
        }
        if url.channel_binding_required && url.sslmode == SslMode::Disable {
            return Err(bad(
                "channel_binding=require needs TLS (sslmode=require or verify-full)",
            ));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postgres(url: &str) -> PostgresUrl {
        match StoreUrl::parse(url).unwrap() {
            StoreUrl::Postgres(p) => p,
            other => panic!("not postgres: {other:?}"),
        }
    }

    #[test]
    fn parses_postgres_forms() {
        let p = postgres("postgres://app@db.internal/tollgate");
        assert_eq!(p.username, "app");
        assert_eq!(p.password, None);
        assert_eq!(p.hosts, [("db.internal".to_owned(), 5432)]);
        assert_eq!(p.dbname, "tollgate");
        assert_eq!(
            (p.sslmode, p.timeout, p.pool),
            (SslMode::Disable, DEFAULT_TIMEOUT, 8)
        );

        let p = postgres(
            "postgresql://app:s%40cret@h1:5433,[::1]:5434,h3/tg?sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fca.pem&timeout=250ms&pool=3&max_leeway=10m",
        );
        assert_eq!(p.password.as_deref(), Some("s@cret"));
        assert_eq!(
            p.hosts,
            [
                ("h1".to_owned(), 5433),
                ("::1".to_owned(), 5434),
                ("h3".to_owned(), 5432)
            ]
        );
        assert_eq!(p.sslmode, SslMode::VerifyFull);
        assert_eq!(p.sslrootcert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(p.timeout, Duration::from_millis(250));
        assert_eq!((p.pool, p.max_leeway), (3, Some(600)));

        let p = postgres("postgres://app@%2Frun%2Fpostgresql/tg?sslmode=require");
        assert_eq!(p.hosts, [("/run/postgresql".to_owned(), 5432)]);
        assert_eq!(p.sslmode, SslMode::Require);

        for bad in [
            "postgres://h:5432/db",
            "postgres://@h/db",
            "postgres://u@h",
            "postgres://u@h/",
            "postgres://u@h:0/db",
            "postgres://u@h:x/db",
            "postgres://u@h:/db",
            "postgres://u@a/b/db",
            "postgres://u@h/db?sslmode=prefer",
            "postgres://u@h/db?sslrootcert=ca.pem",
            "postgres://u@h/db?channel_binding=require",
            "postgres://u@h/db?sslmode=require&channel_binding=yes",
            "postgres://u@h/db?pool=0",
            "postgres://u@h/db?timeout=0s",
            "postgres://u@h/db?prefix=x",
        ] {
            let err = StoreUrl::parse(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Usage, "{bad}");
            assert!(err.message().contains("postgres://"), "{}", err.message());
        }
    }

    #[test]
    fn postgres_passwords_never_show() {
        let p = postgres("postgres://app:hunter2@h:5432/tg?sslmode=require");
        assert_eq!(p.redacted(), "postgres://app:***@h:5432/tg?sslmode=require");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(
            !StoreUrl::parse("postgres://app:hunter2@h/tg")
                .unwrap()
                .redacted()
                .contains("hunter2")
        );
        let err = StoreUrl::parse("postgres://app:hunter2@h/tg?pool=x").unwrap_err();
        assert!(!err.message().contains("hunter2"), "{}", err.message());
        assert_eq!(
            redact_raw("postgresql://app:hunter2@h/tg"),
            "postgresql://app:***@h/tg"
        );
    }
}
