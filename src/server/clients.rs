//! Caller credentials: who may call `/introspect`, `/revoke` and `/session/login`, kept as
//! hashes, each with the endpoints it may call.
//!
//! A caller authenticates with HTTP Basic (`Authorization: Basic base64(client_id:secret)`,
//! where the id and the secret are each form-url-encoded first, RFC 6749 §2.3.1) or with
//! `client_id` and `client_secret` in the form body (`client_secret_post`); never both ways at
//! once (400 `invalid_request`, RFC 6749 §2.3). The server keeps only
//! `client_id:sha256(secret):permissions` lines, in a file written by `tollgate clients add`
//! (mode 0600; a file whose mode lets its group or others in is refused, as key files are):
//!
//! ```text
//! # tollgate caller credentials: client_id:sha256(secret) in hex[:permissions], one per line
//! billing-api:6f1ed002ab5595859014ebf0951522d9a1a9f5a4b2a6a2f3d3a0d4b2d0d5a0f1:introspect
//! web:0e1f5a4b2a6a2f3d3a0d4b2d0d5a0f16f1ed002ab5595859014ebf0951522d9a1a9:introspect,revoke,login
//! ```
//!
//! Permissions ([`Permission`]): `introspect` (`POST /introspect`), `revoke` (`POST /revoke`),
//! `login` (`POST /session/login`). `tollgate clients add` gives `introspect` unless `--allow`
//! says otherwise; a line without permissions (written before they existed) keeps what every
//! caller could do then: all three. A caller whose credentials are wrong is answered 401
//! `invalid_client`; one that authenticated but lacks the permission, 400
//! `unauthorized_client` (RFC 6749 §5.2).
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
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result, quoted};

/// The longest client id, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// The prefix of generated secrets.
pub const SECRET_PREFIX: &str = "tgs_";

const FILE_HEADER: &str =
    "# tollgate caller credentials: client_id:sha256(secret) in hex[:permissions], one per line\n";

/// One endpoint a caller may be allowed to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Permission {
    /// `POST /introspect` (RFC 7662).
    Introspect,
    /// `POST /revoke` (RFC 7009).
    Revoke,
    /// `POST /session/login`: start sessions for any subject.
    Login,
}

impl Permission {
    /// Every permission, in the order they are written.
    pub const ALL: [Permission; 3] = [
        Permission::Introspect,
        Permission::Revoke,
        Permission::Login,
    ];

    /// The name used in the file and by `--allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Introspect => "introspect",
            Permission::Revoke => "revoke",
            Permission::Login => "login",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Permission::Introspect => 1,
            Permission::Revoke => 2,
            Permission::Login => 4,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The endpoints one caller may call: a set of [`Permission`]s.
///
/// # Examples
///
/// ```
/// use tollgate::server::{Permission, Permissions};
/// let p: Permissions = "introspect,revoke".parse()?;
/// assert!(p.allows(Permission::Revoke) && !p.allows(Permission::Login));
/// assert_eq!(p.to_string(), "introspect,revoke");
/// assert_eq!(Permissions::default().to_string(), "introspect");
/// assert!("introspect,admin".parse::<Permissions>().is_err());
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions(u8);

impl Default for Permissions {
    /// What a new caller gets: [`Permission::Introspect`] only.
    fn default() -> Self {
        Permissions::NONE.with(Permission::Introspect)
    }
}

impl Permissions {
    /// No endpoint at all.
    pub const NONE: Permissions = Permissions(0);
    /// Every endpoint (what lines written before permissions existed keep).
    pub const ALL: Permissions = Permissions(7);

    /// This set plus `permission`.
    pub fn with(self, permission: Permission) -> Self {
        Permissions(self.0 | permission.bit())
    }

    /// Whether `permission` is in the set.
    pub fn allows(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// The permissions in the set, in [`Permission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.allows(*p))
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Permission::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl std::str::FromStr for Permissions {
    type Err = Error;

    /// A comma-separated list of `introspect`, `revoke`, `login` (at least one).
    fn from_str(list: &str) -> Result<Self> {
        let mut out = Permissions::NONE;
        for name in list.split(',').map(str::trim) {
            let p = Permission::ALL
                .into_iter()
                .find(|p| p.as_str() == name)
                .ok_or_else(|| {
                    Error::usage(format!(
                        "unknown permission {} in {}: use a comma-separated list of introspect, revoke, login",
                        quoted(name),
                        quoted(list)
                    ))
                })?;
            out = out.with(p);
        }
        Ok(out)
    }
}

#[derive(Clone)]
struct Entry {
    digest: [u8; 32],
    permissions: Permissions,
}

/// The callers allowed to use the trusted endpoints: client ids, SHA-256 digests of their
/// secrets, and what each may call.
///
/// # Examples
///
/// ```
/// use tollgate::server::{Clients, Permission, hash_secret};
/// let clients = Clients::parse(&format!("api:{}:introspect\n", hash_secret("tgs_s3cret")))?;
/// assert!(clients.authenticate("api", "tgs_s3cret"));
/// assert!(!clients.authenticate("api", "tgs_guess"));
/// assert!(!clients.authenticate("other", "tgs_s3cret"));
/// assert!(!clients.permissions("api").unwrap().allows(Permission::Login));
/// # Ok::<(), tollgate::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Clients {
    entries: HashMap<String, Entry>,
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

    /// Adds a caller by the hex SHA-256 of its secret, allowed on every endpoint.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a malformed id or digest.
    pub fn with_client(self, id: &str, sha256_hex: &str) -> Result<Self> {
        self.with_client_allowed(id, sha256_hex, Permissions::ALL)
    }

    /// Adds a caller by the hex SHA-256 of its secret, allowed on the endpoints of
    /// `permissions`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a malformed id or digest.
    pub fn with_client_allowed(
        mut self,
        id: &str,
        sha256_hex: &str,
        permissions: Permissions,
    ) -> Result<Self> {
        validate_client_id(id)?;
        let digest = decode_hex32(sha256_hex).ok_or_else(|| {
            Error::usage(format!(
                "the secret digest of client {id} must be 64 hex digits (SHA-256)"
            ))
        })?;
        self.entries.insert(
            id.to_owned(),
            Entry {
                digest,
                permissions,
            },
        );
        Ok(self)
    }

    /// Parses the file format: `client_id:sha256hex[:permissions]` lines (a line without
    /// permissions allows every endpoint); blank lines and `#` comments are skipped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] naming the first malformed line or a repeated id.
    pub fn parse(text: &str) -> Result<Clients> {
        let mut clients = Clients::new();
        for (n, line) in text.lines().enumerate() {
            let Some((id, hex, permissions)) = parse_line(line)
                .map_err(|e| Error::usage(format!("line {}: {}", n + 1, e.message())))?
            else {
                continue;
            };
            let at_line = |e: Error| Error::usage(format!("line {}: {}", n + 1, e.message()));
            if clients.entries.contains_key(id) {
                return Err(at_line(Error::usage(format!(
                    "client {} appears twice",
                    quoted(id)
                ))));
            }
            clients = clients
                .with_client_allowed(id, hex, permissions)
                .map_err(at_line)?;
        }
        Ok(clients)
    }

    /// Reads a credentials file; a file that does not exist is no callers.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadKey`] when the file exists but cannot be read, is not a regular file, or
    /// its mode lets its group or others in (`mode & 0o077 != 0`: anyone who can write it can
    /// add a trusted caller); [`ErrorKind::Usage`] when it is malformed (the message names the
    /// file and line).
    pub fn load(path: &Path) -> Result<Clients> {
        match read_private(path)? {
            Some(text) => Clients::parse(&text).map_err(|e| {
                Error::usage(format!(
                    "caller credentials {}: {}",
                    path.display(),
                    e.message()
                ))
            }),
            None => Ok(Clients::new()),
        }
    }

    /// Whether no caller is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The client ids, sorted.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.entries.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// What `id` may call, if it is a caller.
    pub fn permissions(&self, id: &str) -> Option<Permissions> {
        self.entries.get(id).map(|e| e.permissions)
    }

    /// Whether `secret` is the secret of `id`, compared in constant time. An unknown id takes
    /// the same work as a wrong secret.
    pub fn authenticate(&self, id: &str, secret: &str) -> bool {
        const NOBODY: [u8; 32] = [0; 32];
        let presented = digest(&SHA256, secret.as_bytes());
        let (expected, known) = match self.entries.get(id) {
            Some(e) => (&e.digest, true),
            None => (&NOBODY, false),
        };
        let equal =
            aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_ref(), expected).is_ok();
        equal && known
    }

    /// Creates a caller allowed on `permissions`: generates its secret, appends
    /// `id:sha256(secret):permissions` to the credentials file (created with mode 0600 if
    /// absent) and returns the secret, which is kept nowhere else.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a malformed id, an id already in the file, or a malformed
    /// file; [`ErrorKind::BadKey`] when the file cannot be read or written or has loose
    /// permissions.
    pub fn add_to_file(
        path: &Path,
        id: &str,
        permissions: Permissions,
    ) -> Result<Zeroizing<String>> {
        validate_client_id(id)?;
        if permissions == Permissions::NONE {
            return Err(Error::usage(format!(
                "client {} would be allowed nothing: give --allow introspect, revoke and/or login",
                quoted(id)
            )));
        }
        let existing = Clients::load(path)?;
        if existing.entries.contains_key(id) {
            return Err(Error::usage(format!(
                "client {} already exists in {}; remove it with `tollgate clients remove {id}` to replace it",
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
        text.push_str(&format!("{id}:{}:{permissions}\n", hash_secret(&secret)));
        file.write_all(text.as_bytes()).map_err(write)?;
        file.sync_all().map_err(write)?;
        Ok(secret)
    }

    /// Removes the caller `id` from the credentials file, keeping every other line as it is.
    /// The file is replaced atomically (mode 0600); a running server refuses the caller from
    /// its next check of the file (within a second).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] when `id` is not in the file (the message names it) or the file is
    /// malformed; [`ErrorKind::BadKey`] when the file cannot be read or written or has loose
    /// permissions.
    pub fn remove_from_file(path: &Path, id: &str) -> Result<()> {
        let text = read_private(path)?.unwrap_or_default();
        let clients = Clients::load(path)?;
        if !clients.entries.contains_key(id) {
            return Err(Error::usage(format!(
                "no client {} in {}; see `tollgate clients list`",
                quoted(id),
                path.display()
            ))
            .with_context("client_id", id));
        }
        let mut kept = String::with_capacity(text.len());
        for line in text.lines() {
            match parse_line(line) {
                Ok(Some((line_id, _, _))) if line_id == id => {}
                _ => {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
        }
        write_private_atomic(path, kept.as_bytes())
    }

    /// The callers with what each may call, sorted by id.
    pub fn entries(&self) -> Vec<(&str, Permissions)> {
        let mut out: Vec<(&str, Permissions)> = self
            .entries
            .iter()
            .map(|(id, e)| (id.as_str(), e.permissions))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out
    }
}

/// One line of the file: `None` for a blank line or a comment.
fn parse_line(line: &str) -> Result<Option<(&str, &str, Permissions)>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut parts = line.splitn(3, ':');
    let (Some(id), Some(hex)) = (parts.next(), parts.next()) else {
        return Err(Error::usage("expected client_id:sha256hex[:permissions]"));
    };
    let permissions = match parts.next() {
        // Written before permissions existed: what every caller could do then.
        None => Permissions::ALL,
        Some(list) => list.parse()?,
    };
    Ok(Some((id, hex, permissions)))
}

/// Reads a file that must be private to its owner; `None` when it does not exist.
fn read_private(path: &Path) -> Result<Option<String>> {
    let cannot = |e: std::io::Error| {
        Error::bad_key(format!(
            "cannot read caller credentials {}: {e}",
            path.display()
        ))
        .with_source(e)
    };
    // Non-blocking: a FIFO in its place must not hang the reader (nor a server's reload).
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot(e)),
    };
    // The mode of the file opened, not of a path that could be swapped meanwhile.
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(Error::bad_key(format!(
            "caller credentials {} is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::bad_key(format!(
                "caller credentials {} has loose permissions {mode:04o}; run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    if meta.len() > crate::keys::MAX_FILE_BYTES {
        return Err(Error::bad_key(format!(
            "caller credentials {} is larger than {} bytes",
            path.display(),
            crate::keys::MAX_FILE_BYTES
        )));
    }
    let mut text = String::new();
    (&mut file)
        .take(crate::keys::MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    Ok(Some(text))
}

/// Replaces `path` with `bytes` atomically: a private temporary file beside it, synced, renamed.
/// Run as root, the new file keeps the owner and group of the one it replaces, so that a server
/// running as that user can still read it.
fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let write = |e: std::io::Error| {
        Error::bad_key(format!(
            "cannot write caller credentials {}: {e}",
            path.display()
        ))
        .with_source(e)
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let replaced = std::fs::symlink_metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file);
    let result = (|| {
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        if let Some(old) = &replaced {
            use std::os::unix::fs::MetadataExt;
            // A file this process just created belongs to its effective user.
            if file.metadata()?.uid() == 0 && old.uid() != 0 {
                std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))?;
            }
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(write)
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
        let s1 = Clients::add_to_file(&path, "a", Permissions::default()).unwrap();
        let s2 = Clients::add_to_file(&path, "b", Permissions::ALL).unwrap();
        let clients = Clients::load(&path).unwrap();
        assert!(clients.authenticate("a", &s1) && clients.authenticate("b", &s2));
        assert!(!clients.authenticate("a", &s2));
        assert_eq!(
            Clients::add_to_file(&path, "a", Permissions::ALL)
                .unwrap_err()
                .kind(),
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

    #[test]
    fn lines_without_permissions_keep_every_endpoint_and_new_ones_name_theirs() {
        let h = hash_secret("x");
        let clients = Clients::parse(&format!(
            "old:{h}\nnew:{h}:introspect\nweb:{h}:login,revoke\n"
        ))
        .unwrap();
        assert_eq!(clients.permissions("old"), Some(Permissions::ALL));
        assert_eq!(clients.permissions("new"), Some(Permissions::default()));
        let web = clients.permissions("web").unwrap();
        assert!(web.allows(Permission::Login) && web.allows(Permission::Revoke));
        assert!(!web.allows(Permission::Introspect));
        assert_eq!(web.to_string(), "revoke,login");
        assert!(Clients::parse(&format!("a:{h}:admin")).is_err());
        assert!(Clients::parse(&format!("a:{h}:")).is_err());
    }

    #[test]
    fn remove_keeps_other_lines_and_names_an_unknown_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients");
        let a = Clients::add_to_file(&path, "a", Permissions::default()).unwrap();
        Clients::add_to_file(&path, "b", Permissions::default()).unwrap();
        Clients::remove_from_file(&path, "b").unwrap();
        let clients = Clients::load(&path).unwrap();
        assert_eq!(clients.ids(), ["a"]);
        assert!(clients.authenticate("a", &a));
        assert!(std::fs::read_to_string(&path).unwrap().starts_with('#'));
        let err = Clients::remove_from_file(&path, "b").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.message().contains("\"b\""), "{}", err.message());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_file_open_to_group_or_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients");
        Clients::add_to_file(&path, "a", Permissions::default()).unwrap();
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = Clients::load(&path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BadKey);
            assert!(
                err.message().contains("loose permissions"),
                "{}",
                err.message()
            );
        }
    }
}
