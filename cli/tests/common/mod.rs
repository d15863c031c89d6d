//! Helpers for the black-box tests of the `tollgate` binary: a temp keyring per test, a command
//! builder with a clean environment, a fixed instant, and hand-built tokens.

#![allow(dead_code, unreachable_pub)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use tempfile::TempDir;

/// The instant every time-dependent test of this binary runs at: the real clock when the binary
/// started (stores keep entries on the real clock, so a fixed date would make tests fail once
/// it passed), on a whole minute so that formatted times read simply.
pub fn now() -> i64 {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64;
        real - real % 60
    })
}

/// Environment variables that would change what the binary does; removed from every command.
const ENV: [&str; 12] = [
    "TOLLGATE_KEYS",
    "TOLLGATE_STORE",
    "TOLLGATE_ISSUER",
    "TOLLGATE_AUDIENCE",
    "TOLLGATE_ACCESS_TTL",
    "TOLLGATE_REFRESH_WINDOW",
    "TOLLGATE_REMEMBER_WINDOW",
    "TOLLGATE_ABSOLUTE_MAX",
    "TOLLGATE_GRACE",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
];

/// `tollgate` with none of its environment variables set.
pub fn tollgate() -> Command {
    let mut cmd = Command::cargo_bin("tollgate").expect("the tollgate binary is built");
    for var in ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// The path of the built binary, for `std::process` spawning.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tollgate")
}

/// What a run produced.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    fn from(output: std::process::Output) -> Out {
        Out {
            code: output
                .status
                .code()
                .expect("exited, not killed by a signal"),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn code(self, code: i32) -> Out {
        assert_eq!(
            self.code, code,
            "exit code {} (want {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Asserts exit 0.
    #[track_caller]
    pub fn ok(self) -> Out {
        self.code(0)
    }

    /// Stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e})\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The `error.kind` of a `--json` failure.
    #[track_caller]
    pub fn kind(&self) -> String {
        let v = self.json();
        v["error"]["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.kind in {v:#}"))
            .to_string()
    }

    /// Stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs a command to completion.
pub fn run(cmd: &mut Command) -> Out {
    Out::from(cmd.output().expect("tollgate runs"))
}

/// A temp directory with a keyring path `<tmp>/keys` (not created until a command creates it).
/// Commands run with the temp directory as their working directory.
pub struct Ring {
    pub tmp: TempDir,
    pub dir: PathBuf,
}

impl Default for Ring {
    fn default() -> Self {
        Ring::new()
    }
}

impl Ring {
    pub fn new() -> Ring {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("keys");
        Ring { tmp, dir }
    }

    /// A path inside the temp directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes a file in the temp directory and returns its path as a string.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write test file");
        path.to_str().expect("UTF-8 path").to_string()
    }

    /// `tollgate --keys <dir>` in the temp directory.
    pub fn cmd(&self) -> Command {
        let mut cmd = tollgate();
        cmd.current_dir(self.tmp.path())
            .arg("--keys")
            .arg(&self.dir);
        cmd
    }

    /// Runs `tollgate --keys <dir> ARGS`.
    pub fn run(&self, args: &[&str]) -> Out {
        run(self.cmd().args(args))
    }

    /// Runs `tollgate --keys <dir> --now now() ARGS`.
    pub fn at(&self, now: i64, args: &[&str]) -> Out {
        run(self.cmd().arg("--now").arg(now.to_string()).args(args))
    }

    /// Runs with `stdin` as standard input.
    pub fn stdin(&self, now: i64, args: &[&str], stdin: &str) -> Out {
        run(self
            .cmd()
            .arg("--now")
            .arg(now.to_string())
            .args(args)
            .write_stdin(stdin))
    }

    /// `keys generate --alg ALG` at now(); returns the kid.
    pub fn generate(&self, alg: &str) -> String {
        let out = self
            .at(now(), &["--json", "keys", "generate", "--alg", alg])
            .ok();
        out.json()["kid"].as_str().expect("kid").to_string()
    }

    /// `keys rotate` at `now`; returns the new active kid.
    pub fn rotate(&self, now: i64, extra: &[&str]) -> String {
        let mut args = vec!["--json", "keys", "rotate"];
        args.extend_from_slice(extra);
        let out = self.at(now, &args).ok();
        out.json()["kid"].as_str().expect("kid").to_string()
    }

    /// `mint --sub alice ARGS` at `now`; returns the token.
    pub fn mint_at(&self, now: i64, extra: &[&str]) -> String {
        let mut args = vec!["mint", "--sub", "alice"];
        args.extend_from_slice(extra);
        let out = self.at(now, &args).ok();
        let token = out.stdout.trim().to_string();
        assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
        token
    }

    /// `mint --sub alice ARGS` at now().
    pub fn mint(&self, extra: &[&str]) -> String {
        self.mint_at(now(), extra)
    }

    /// `verify --json TOKEN ARGS` at `now`.
    pub fn verify_at(&self, now: i64, token: &str, extra: &[&str]) -> Out {
        let mut args = vec!["--json", "verify", token];
        args.extend_from_slice(extra);
        self.at(now, &args)
    }

    /// `verify --json TOKEN ARGS` at now().
    pub fn verify(&self, token: &str, extra: &[&str]) -> Out {
        self.verify_at(now(), token, extra)
    }

    /// `keys list --json`: the key entries.
    pub fn list(&self) -> Vec<Value> {
        let out = self.at(now(), &["--json", "keys", "list"]).ok();
        out.json()["keys"].as_array().expect("keys array").clone()
    }

    /// The entry with this kid in `keys list --json`.
    pub fn entry(&self, kid: &str) -> Value {
        self.list()
            .into_iter()
            .find(|e| e["kid"] == kid)
            .unwrap_or_else(|| panic!("no key {kid} in keys list"))
    }

    /// `keys export [--private] -- KID` (the `--` keeps a kid starting with `-` positional).
    pub fn export(&self, kid: &str, extra: &[&str]) -> String {
        let mut args = vec!["keys", "export"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", kid]);
        self.run(&args).ok().stdout
    }

    /// The raw secret of an HS key, from `keys export --private`.
    pub fn hmac_secret(&self, kid: &str) -> Vec<u8> {
        let jwk: Value =
            serde_json::from_str(&self.export(kid, &["--private"])).expect("private JWK");
        unb64(jwk["k"].as_str().expect("k"))
    }

    /// The Ed25519 PKCS#8 document of an EdDSA key, from `keys export --private`.
    pub fn ed25519_pkcs8(&self, kid: &str) -> Vec<u8> {
        pem_contents(&self.export(kid, &["--private"]), "PRIVATE KEY")
    }

    /// Mode bits (`0o777`) of a path.
    pub fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    /// Sets the mode of a path.
    pub fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// The names of the files in the keyring directory.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .expect("read keyring dir")
            .map(|e| e.expect("dir entry").file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

/// Base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

/// A token segment decoded as JSON.
pub fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("segment");
    serde_json::from_slice(&unb64(part)).expect("JSON segment")
}

/// The body of the first PEM block with this label.
pub fn pem_contents(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).expect("PEM begin") + begin.len();
    let stop = pem.find(&end).expect("PEM end");
    let body: String = pem[start..stop].split_whitespace().collect();
    STANDARD.decode(body).expect("PEM base64")
}

/// `header.payload` from raw JSON texts (not re-serialised, so duplicates survive).
pub fn signing_input(header: &str, payload: &str) -> String {
    format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()))
}

/// A token signed with HMAC (`alg` HS256, HS384 or HS512) over raw header and payload texts.
pub fn hmac_token_raw(alg: &str, secret: &[u8], header: &str, payload: &str) -> String {
    use aws_lc_rs::hmac;
    let algorithm = match alg {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        other => panic!("not an HMAC alg: {other}"),
    };
    let input = signing_input(header, payload);
    let tag = hmac::sign(&hmac::Key::new(algorithm, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// A token signed with HMAC; the header's `alg` must match `alg`.
pub fn hmac_token(alg: &str, secret: &[u8], header: &Value, claims: &Value) -> String {
    hmac_token_raw(alg, secret, &header.to_string(), &claims.to_string())
}

/// A token signed with an Ed25519 PKCS#8 key.
pub fn ed25519_token(pkcs8: &[u8], header: &Value, claims: &Value) -> String {
    use aws_lc_rs::signature::Ed25519KeyPair;
    let kp = Ed25519KeyPair::from_pkcs8(pkcs8).expect("Ed25519 PKCS#8");
    let input = signing_input(&header.to_string(), &claims.to_string());
    let sig = kp.sign(input.as_bytes());
    format!("{input}.{}", b64(sig.as_ref()))
}

/// Valid access-token claims at now() for `sub` alice (15 minutes).
pub fn claims() -> Value {
    serde_json::json!({
        "sub": "alice",
        "iat": now(),
        "nbf": now(),
        "exp": now() + 900,
        "jti": "5f0c8a52-3d5e-4a8f-9d55-0c1f2f0b6a11",
        "sid": "s-1",
    })
}

/// Whether a string is a lowercase hyphenated UUID.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Replaces the character at `index` of the token's signature with a different base64url one
/// that keeps the encoding canonical (a middle character, so no trailing bits change).
pub fn flip_signature(token: &str) -> String {
    let (signed, sig) = token.rsplit_once('.').expect("three segments");
    let mut chars: Vec<char> = sig.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", chars.into_iter().collect::<String>())
}
