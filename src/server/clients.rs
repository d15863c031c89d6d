//! Caller credentials: who may call `/introspect`, `/revoke` (and the trusted session
//! endpoints), kept as hashes.
//!
//! A caller authenticates with HTTP Basic (`Authorization: Basic base64(client_id:secret)`,
//! RFC 6749 §2.3.1). The server keeps only `client_id:sha256(secret)` lines, in a file written by
//! `tollgate clients add` (mode 0600):
//!
//! ```text
//! # tollgate caller credentials: client_id:sha256(secret) in hex, one per line
//! billing-api:6f1ed002ab5595859014ebf0951522d9a1a9f5a4b2a6a2f3d3a0d4b2d0d5a0f1
//! ```
//!
//! Secrets are generated, never chosen: 32 random bytes (256 bits) from aws-lc-rs, base64url,
//! prefixed `tgs_` so that secret scanners can spot a leaked one. Against a secret that
//! strong, a slow password hash (PBKDF2, Argon2) adds nothing: it exists to slow the guessing
//! of low-entropy passwords, and nobody can enumerate 2^256 candidates. One SHA-256 keeps
//! caller authentication, paid on every introspection, at microseconds. Do not put the hash
//! of a hand-picked password in the file.
//!
//! Digests are compared in constant time (aws-lc-rs), and an unknown `client_id` costs the
//! same as a known one with a wrong secret.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ::axum::extract::{FromRef, FromRequestParts};
use ::axum::http::header;
use ::axum::http::request::Parts;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use crate::axum::Rejection;
use crate::error::{Error, ErrorKind, Result, quoted};

/// The longest client id, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// The prefix of generated secrets.
pub const SECRET_PREFIX: &str = "tgs_";

const FILE_HEADER: &str =
    "# tollgate caller credentials: client_id:sha256(secret) in hex, one per line\n";

/// The callers allowed to use the trusted endpoints: client ids and SHA-256 digests of their
/// secrets.
///
/// # Examples
///
/// ```
/// use tollgate::server::{Clients, hash_secret};
/// let clients = Clients::parse(&format!("api:{}\n", hash_secret("tgs_s3cret")))?;
/// assert!(clients.authenticate("api", "tgs_s3cret"));
/// assert!(!clients.authenticate("api", "tgs_guess"));
/// assert!(!clients.authenticate("other", "tgs_s3cret"));
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Clients {
    digests: HashMap<String, [u8; 32]>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("ids", &self.ids())
            .finish_non_exhaustive()
    }
}

impl Clients {
    /// No callers: every trusted endpoint refuses everyone.
    pub fn new() -> Self {
        Clients::default()
    }

    /// Adds a caller by the hex SHA-256 of its secret.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a malformed id or digest.
    pub fn with_client(mut self, id: &str, sha256_hex: &str) -> Result<Self> {
        validate_client_id(id)?;
        let digest = decode_hex32(sha256_hex).ok_or_else(|| {
            Error::usage(format!(
                "the secret digest of client {id} must be 64 hex digits (SHA-256)"
            ))
        })?;
        self.digests.insert(id.to_owned(), digest);
        Ok(self)
    }

    /// Parses the file format: `client_id:sha256hex` lines; blank lines and `#` comments are
    /// skipped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] naming the first malformed line or a repeated id.
    pub fn parse(text: &str) -> Result<Clients> {
        let mut clients = Clients::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at_line = |e: Error| Error::usage(format!("line {}: {}", n + 1, e.message()));
            let (id, hex) = line
                .split_once(':')
                .ok_or_else(|| at_line(Error::usage("expected client_id:sha256hex")))?;
            if clients.digests.contains_key(id) {
                return Err(at_line(Error::usage(format!(
                    "client {} appears twice",
                    quoted(id)
                ))));
            }
            clients = clients.with_client(id, hex).map_err(at_line)?;
        }
        Ok(clients)
    }

    /// Reads a credentials file; a file that does not exist is no callers.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`] when the file exists but cannot be read;
    /// [`ErrorKind::Usage`] when it is malformed (the message names the file and line).
    pub fn load(path: &Path) -> Result<Clients> {
        match std::fs::read_to_string(path) {
            Ok(text) => Clients::parse(&text).map_err(|e| {
                Error::usage(format!(
                    "caller credentials {}: {}",
                    path.display(),
                    e.message()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Clients::new()),
            Err(e) => Err(Error::bad_key(format!(
                "cannot read caller credentials {}: {e}",
                path.display()
            ))
            .with_source(e)),
        }
    }

    /// Whether no caller is configured.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The client ids, sorted.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.digests.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// Whether `secret` is the secret of `id`, compared in constant time. An unknown id takes
    /// the same work as a wrong secret.
    pub fn authenticate(&self, id: &str, secret: &str) -> bool {
        const NOBODY: [u8; 32] = [0; 32];
        let presented = digest(&SHA256, secret.as_bytes());
        let (expected, known) = match self.digests.get(id) {
            Some(d) => (d, true),
            None => (&NOBODY, false),
        };
        let equal =
            aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_ref(), expected).is_ok();
        equal && known
    }

    /// Creates a caller: generates its secret, appends `id:sha256(secret)` to the credentials
    /// file (created with mode 0600 if absent) and returns the secret, which is kept nowhere
    /// else.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a malformed id, an id already in the file, or a malformed
    /// file; [`ErrorKind::BadKey`] when the file cannot be read or written.
    pub fn add_to_file(path: &Path, id: &str) -> Result<Zeroizing<String>> {
        validate_client_id(id)?;
        let existing = Clients::load(path)?;
        if existing.digests.contains_key(id) {
            return Err(Error::usage(format!(
                "client {} already exists in {}; remove its line to replace it",
                quoted(id),
                path.display()
            )));
        }
        let secret = generate_secret()?;
        let is_new = !path.exists();
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write = |e: std::io::Error| {
            Error::bad_key(format!(
                "cannot write caller credentials {}: {e}",
                path.display()
            ))
        };
        let mut file = options.open(path).map_err(write)?;
        let mut text = String::new();
        if is_new {
            text.push_str(FILE_HEADER);
        }
        text.push_str(&format!("{id}:{}\n", hash_secret(&secret)));
        file.write_all(text.as_bytes()).map_err(write)?;
        file.sync_all().map_err(write)?;
        Ok(secret)
    }
}

/// The hex SHA-256 of a secret, as the credentials file stores it.
pub fn hash_secret(secret: &str) -> String {
    let d = digest(&SHA256, secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in d.as_ref() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// A new caller secret: `tgs_` and 32 random bytes in base64url.
///
/// # Errors
///
/// [`ErrorKind::BadKey`] if the system's random source fails.
pub fn generate_secret() -> Result<Zeroizing<String>> {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| Error::bad_key("the system random source failed"))?;
    Ok(Zeroizing::new(format!(
        "{SECRET_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_ref())
    )))
}

/// Checks a client id: 1 to 64 characters from `A-Z a-z 0-9 . _ -`.
///
/// # Errors
///
/// [`ErrorKind::Usage`] naming the id.
pub fn validate_client_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Usage,
            format!(
                "client id {} must be 1 to {MAX_CLIENT_ID_LEN} characters of A-Z a-z 0-9 . _ -",
                quoted(id)
            ),
        ))
    }
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// An authenticated caller of a trusted endpoint: an axum extractor over HTTP Basic
/// credentials checked against the server's [`Clients`].
///
/// Rejects with 401 `{"error":"invalid_client"}` and `WWW-Authenticate: Basic
/// realm="tollgate"` when the credentials are absent or wrong, and always when no caller is
/// configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller's client id.
    pub client_id: String,
}

impl<S> FromRequestParts<S> for Caller
where
    super::App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let app = super::App::from_ref(state);
        let clients = app.clients();
        let refuse = |reason: &str| {
            app.metrics().caller_refused();
            // serve-http: any client can cause this line; one a second at most, with the count
            // held back (the metric above stays exact).
            static REFUSED: crate::axum::LogLimit = crate::axum::LogLimit::per_second();
            if let Some(suppressed) = REFUSED.admit() {
                tracing::warn!(path = %parts.uri.path(), reason, suppressed, "caller refused");
            }
            Rejection::invalid_client()
        };
        if clients.is_empty() {
            return Err(refuse(
                "no caller credentials are configured; create some with `tollgate clients add NAME`",
            ));
        }
        let Some((id, secret)) = basic_credentials(parts) else {
            return Err(refuse("no HTTP Basic credentials"));
        };
        if !clients.authenticate(&id, &secret) {
            return Err(refuse("wrong client id or secret"));
        }
        Ok(Caller { client_id: id })
    }
}

/// `Authorization: Basic base64(id:secret)`, decoded.
fn basic_credentials(parts: &Parts) -> Option<(String, Zeroizing<String>)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = Zeroizing::new(STANDARD.decode(encoded.trim()).ok()?);
    let text = std::str::from_utf8(&decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), Zeroizing::new(secret.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_authenticate_and_hash_to_hex() {
        let secret = generate_secret().unwrap();
        assert!(secret.starts_with(SECRET_PREFIX));
        assert_eq!(secret.len(), 4 + 43);
        let line = format!("# comment\n\nweb-1:{}\n", hash_secret(&secret));
        let clients = Clients::parse(&line).unwrap();
        assert_eq!(clients.ids(), ["web-1"]);
        assert!(clients.authenticate("web-1", &secret));
        assert!(!clients.authenticate("web-1", "tgs_wrong"));
        assert!(!clients.authenticate("web-2", &secret));
    }

    #[test]
    fn malformed_files_name_the_line() {
        let err = Clients::parse("ok:00\n").unwrap_err();
        assert!(err.message().starts_with("line 1:"), "{}", err.message());
        let h = hash_secret("x");
        let err = Clients::parse(&format!("a:{h}\na:{h}\n")).unwrap_err();
        assert!(err.message().contains("twice"));
        assert!(Clients::parse(&format!("a b:{h}")).is_err());
        assert!(Clients::parse("no colon").is_err());
    }

    #[test]
    fn client_ids_are_restricted() {
        assert!(validate_client_id("billing-api.v2_1").is_ok());
        for bad in ["", "a:b", "a b", "é", &"x".repeat(65)] {
            assert!(validate_client_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn add_to_file_creates_a_private_file_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients");
        let s1 = Clients::add_to_file(&path, "a").unwrap();
        let s2 = Clients::add_to_file(&path, "b").unwrap();
        let clients = Clients::load(&path).unwrap();
        assert!(clients.authenticate("a", &s1) && clients.authenticate("b", &s2));
        assert!(!clients.authenticate("a", &s2));
        assert_eq!(
            Clients::add_to_file(&path, "a").unwrap_err().kind(),
            ErrorKind::Usage
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            Clients::load(&dir.path().join("absent"))
                .unwrap()
                .is_empty()
        );
    }
}
