//! Keyring failures: exit 3, kind bad_key.

use std::path::Path;

use serde_json::Value;

use crate::common::{Out, Ring, now};

fn assert_bad_key(out: Out, names: &Path) {
    let out = out.code(3);
    assert_eq!(out.kind(), "bad_key");
    let message = out.json()["error"]["message"].as_str().unwrap().to_string();
    let name = names.to_str().unwrap();
    assert!(message.contains(name), "{message:?} does not name {name}");
    assert!(out.stderr.contains(name), "stderr does not name {name}");
}

/// Every command that reads the keyring, with a valid token for verify.
fn keyring_commands(ring: &Ring, token: &str) -> Vec<Out> {
    vec![
        ring.at(now(), &["--json", "keys", "list"]),
        ring.at(now(), &["--json", "mint", "--sub", "alice"]),
        ring.verify(token, &[]),
        ring.at(now(), &["--json", "keys", "jwks"]),
        ring.at(now(), &["--json", "keys", "generate"]),
        ring.at(now(), &["--json", "keys", "rotate"]),
    ]
}

#[test]
fn key_file_0644_is_refused() {
    let ring = Ring::new();
    let kid = ring.generate("EdDSA");
    let token = ring.mint(&[]);
    let file = ring.dir.join(format!("{kid}.pem"));
    Ring::chmod(&file, 0o644);
    for out in keyring_commands(&ring, &token) {
        assert_bad_key(out, &file);
    }
    Ring::chmod(&file, 0o600);
    ring.verify(&token, &[]).ok();
}

#[test]
fn hmac_key_file_0640_is_refused() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let hs = ring.generate("HS256");
    let file = ring.dir.join(format!("{hs}.jwk"));
    Ring::chmod(&file, 0o640);
    assert_bad_key(ring.at(now(), &["--json", "keys", "list"]), &file);
}

#[test]
fn directory_0755_is_refused() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let token = ring.mint(&[]);
    Ring::chmod(&ring.dir, 0o755);
    for out in keyring_commands(&ring, &token) {
        assert_bad_key(out, &ring.dir);
    }
    assert_eq!(
        Ring::mode(&ring.dir),
        0o755,
        "an existing keyring is not re-moded"
    );
}

#[test]
fn corrupt_key_file() {
    let ring = Ring::new();
    let kid = ring.generate("EdDSA");
    let token = ring.mint(&[]);
    let file = ring.dir.join(format!("{kid}.pem"));
    std::fs::write(
        &file,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    Ring::chmod(&file, 0o600);
    for out in keyring_commands(&ring, &token) {
        assert_bad_key(out, &file);
    }
    std::fs::write(&file, "garbage").unwrap();
    assert_bad_key(ring.verify(&token, &[]), &file);
}

#[test]
fn symlinked_key_file_is_refused() {
    let ring = Ring::new();
    let kid = ring.generate("EdDSA");
    let file = ring.dir.join(format!("{kid}.pem"));
    let elsewhere = ring.path("elsewhere.pem");
    std::fs::rename(&file, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    assert_bad_key(ring.at(now(), &["--json", "keys", "list"]), &file);
}

#[test]
fn missing_key_file() {
    let ring = Ring::new();
    let kid = ring.generate("EdDSA");
    let file = ring.dir.join(format!("{kid}.pem"));
    std::fs::remove_file(&file).unwrap();
    assert_bad_key(ring.at(now(), &["--json", "keys", "list"]), &file);
}

#[test]
fn corrupt_manifest() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let token = ring.mint(&[]);
    let manifest = ring.dir.join("keyring.json");
    for garbage in [
        "{not json",
        r#"{"version":1,"max_ttl":86400,"keys":[{"kid":1}]}"#,
    ] {
        std::fs::write(&manifest, garbage).unwrap();
        for out in keyring_commands(&ring, &token) {
            assert_bad_key(out, &manifest);
        }
    }
}

#[test]
fn inconsistent_manifest_is_bad_key() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let token = ring.mint(&[]);
    let manifest = ring.dir.join("keyring.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let key = v["keys"][0].clone();
    v["keys"].as_array_mut().unwrap().push(key);
    std::fs::write(&manifest, v.to_string()).unwrap();
    let out = ring.verify(&token, &[]).code(3);
    assert_eq!(out.kind(), "bad_key");
}

#[test]
fn missing_keyring_directory() {
    let ring = Ring::new();
    let other = Ring::new();
    other.generate("EdDSA");
    let token = other.mint(&[]);
    for out in [
        ring.at(now(), &["--json", "keys", "list"]),
        ring.at(now(), &["--json", "mint", "--sub", "alice"]),
        ring.verify(&token, &[]),
        ring.at(now(), &["--json", "keys", "jwks"]),
        ring.at(now(), &["--json", "keys", "retire", "k"]),
        ring.at(now(), &["--json", "keys", "prune"]),
        ring.at(now(), &["--json", "keys", "export", "k"]),
    ] {
        assert_bad_key(out, &ring.dir);
    }
    assert!(!ring.dir.exists(), "reading commands create nothing");
}

#[test]
fn keyring_path_that_is_a_file() {
    let ring = Ring::new();
    std::fs::write(&ring.dir, "not a dir").unwrap();
    assert_bad_key(ring.at(now(), &["--json", "keys", "list"]), &ring.dir);
}

#[test]
fn mint_without_an_active_key() {
    let issuer = Ring::new();
    let kid = issuer.generate("EdDSA");
    let ring = Ring::new();
    let file = ring.write("k.jwk", issuer.export(&kid, &[]));
    ring.at(now(), &["keys", "import", &file]).ok();
    let out = ring
        .at(now(), &["--json", "mint", "--sub", "alice"])
        .code(3);
    assert_eq!(out.kind(), "bad_key");
}

#[test]
fn human_error_goes_to_stderr_only() {
    let ring = Ring::new();
    let out = ring.at(now(), &["keys", "list"]).code(3);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.starts_with("tollgate:"), "{}", out.stderr);
}
