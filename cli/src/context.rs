//! Builds the library objects the commands need from the global options, once.

use std::io::Read;

use tollgate::{Clock, Error, Gate, Keyring, Result, Store, VerifyOptions};

use crate::args::{DEFAULT_STORE, GlobalArgs};

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

    /// The store URL: `--store`, `TOLLGATE_STORE`, or the embedded default.
    pub(crate) fn store_url(&self) -> &str {
        self.args.store.as_deref().unwrap_or(DEFAULT_STORE)
    }

    /// Whether a store was named explicitly (`inspect` consults the default store only when its
    /// file exists).
    pub(crate) fn store_is_explicit(&self) -> bool {
        self.args.store.is_some()
    }

    /// Opens the store (exit 2 for a malformed URL, exit 3 when unreachable).
    pub(crate) async fn store(&self) -> Result<Store> {
        Store::open(self.store_url()).await
    }

    /// A gate over the store with the clock and `options`, and the keyring when `with_keyring`.
    pub(crate) async fn gate(&self, options: VerifyOptions, with_keyring: bool) -> Result<Gate> {
        let mut gate = Gate::new(self.store().await?)
            .with_clock(self.clock)
            .with_options(options);
        if with_keyring {
            gate = gate.with_keyring(self.keyring()?);
        }
        Ok(gate)
    }

    /// The gate of `tollgate serve`: as [`gate`](Context::gate) with the keyring, but over a
    /// local replica of the store's denylist when the store has a change feed (SQLite polling,
    /// Redis pub/sub, PostgreSQL `LISTEN/NOTIFY`), so that a verification costs no round trip.
    /// Waits up to `wait` for the replica's first load; until it is fresh (and whenever it falls
    /// behind `max_staleness`), checks go to the store itself.
    pub(crate) async fn serving_gate(
        &self,
        options: VerifyOptions,
        max_staleness: std::time::Duration,
        wait: std::time::Duration,
    ) -> Result<Gate> {
        let config = tollgate::store::ReplicaConfig::default().with_max_staleness(max_staleness);
        let store = self.store().await?.replicated(config)?;
        if let Some(replica) = store.replica()
            && !replica.wait_fresh(wait).await
        {
            crate::output::warn(&format!(
                "the store's replica is not loaded after {}; checks go to the store until it is",
                tollgate::format_duration(wait)
            ));
        }
        // The server's own watcher follows the keyring (and the callers file), with logs and
        // metrics, through the same fail-closed `Gate::reload_keyring`.
        Ok(Gate::new(store)
            .with_clock(self.clock)
            .with_options(options)
            .with_keyring(self.keyring()?)
            .with_keyring_follow(tollgate::gate::FollowConfig::off()))
    }

    /// Verification options for a command's own `--aud`/`--iss` flags, falling back to the
    /// global `--audience`/`--issuer` (and their environment variables) when it gives none: the
    /// one place those defaults are applied. Mint takes them through
    /// [`VerifyOptions::mint_defaults`].
    pub(crate) fn options(&self, aud: Vec<String>, iss: Option<String>) -> VerifyOptions {
        let audiences = if aud.is_empty() {
            self.args.audience.clone().into_iter().collect()
        } else {
            aud
        };
        let mut options = VerifyOptions::new();
        for aud in audiences {
            options = options.with_audience(aud);
        }
        if let Some(iss) = iss.or_else(|| self.args.issuer.clone()) {
            options = options.with_issuer(iss);
        }
        options
    }

    /// A remote JWK Set at `url` (its keys bound to `issuer` when given), trusting `--ca-file`
    /// besides the system's roots.
    pub(crate) fn remote_jwks(
        &self,
        url: &str,
        issuer: Option<String>,
    ) -> Result<tollgate::keys::RemoteJwks> {
        let mut config = tollgate::keys::RemoteConfig::new();
        if let Some(file) = &self.args.ca_file {
            config = config.with_ca_file(file);
        }
        tollgate::keys::RemoteJwks::new(url, issuer, config)
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
    check_pasted(token)?;
    Ok(token.to_string())
}

/// Refuses what a copy and paste brings along with a token: an `Authorization` header's scheme,
/// quotes, a line break. Refused rather than stripped: a script gets the same answer every time
/// and learns to pass the token alone, and nothing here guesses which part is the token. The
/// messages never quote the token itself.
fn check_pasted(token: &str) -> Result<()> {
    let lower = token.to_ascii_lowercase();
    if lower.starts_with("authorization:") {
        return Err(Error::usage(
            "the token starts with an `Authorization:` header name; pass the token alone, \
             without `Authorization: Bearer `",
        ));
    }
    for scheme in ["Bearer", "DPoP"] {
        let prefixed = lower
            .strip_prefix(&scheme.to_ascii_lowercase())
            .is_some_and(|rest| rest.starts_with(char::is_whitespace));
        if prefixed {
            return Err(Error::usage(format!(
                "the token starts with `{scheme} `, the Authorization header's scheme; pass the \
                 token alone, without `{scheme} ` (in a script: \"${{HEADER#{scheme} }}\")"
            )));
        }
    }
    for quote in ['"', '\'', '`'] {
        if token.starts_with(quote) || token.ends_with(quote) {
            return Err(Error::usage(format!(
                "the token is wrapped in {quote} quotes; remove them (from JSON, read the \
                 value with `jq -r`)"
            )));
        }
    }
    if token.contains(char::is_whitespace) {
        return Err(Error::usage(
            "the token contains whitespace (a line break from copying?); a token has none: \
             join it into one line",
        ));
    }
    Ok(())
}

/// Parses `--claim NAME=VALUE`: VALUE is JSON when it parses as JSON, else a string.
pub(crate) fn parse_claim(pair: &str) -> Result<(String, serde_json::Value)> {
    let (name, value) = pair
        .split_once('=')
        .ok_or_else(|| Error::usage(format!("--claim {pair:?} must be NAME=VALUE")))?;
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.into()));
    Ok((name.to_owned(), value))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(token: &str) -> String {
        let err = check_pasted(token).expect_err(token);
        assert_eq!(err.kind(), tollgate::ErrorKind::Usage);
        let message = err.to_string();
        assert!(!message.contains("eyJ"), "never the token: {message}");
        message
    }

    #[test]
    fn issue_17_pasted_extras_are_refused_with_what_to_remove() {
        let jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln";
        assert!(check_pasted(jwt).is_ok());
        assert!(check_pasted("tgr1.5f307a22.1.secret").is_ok());
        assert!(refused(&format!("Bearer {jwt}")).contains("without `Bearer `"));
        assert!(refused(&format!("bearer  {jwt}")).contains("without `Bearer `"));
        assert!(refused(&format!("DPoP {jwt}")).contains("without `DPoP `"));
        assert!(refused(&format!("Authorization: Bearer {jwt}")).contains("`Authorization:`"));
        assert!(refused(&format!("\"{jwt}\"")).contains("\" quotes"));
        assert!(refused(&format!("'{jwt}'")).contains("' quotes"));
        assert!(refused(&format!("{jwt}\"")).contains("quotes"));
        assert!(refused(&format!("eyJhbGci\nOiJFZERTQSJ9.{jwt}")).contains("whitespace"));
    }

    #[test]
    fn issue_17_surrounding_whitespace_is_fine() {
        let file = std::env::temp_dir().join(format!("tollgate-token-{}", std::process::id()));
        std::fs::write(&file, "\n  a.b.c \r\n").unwrap();
        let arg = format!("@{}", file.display());
        assert_eq!(read_token(Some(&arg)).unwrap(), "a.b.c");
        std::fs::remove_file(&file).unwrap();
        assert_eq!(read_token(Some(" a.b.c\t")).unwrap(), "a.b.c");
    }
}
