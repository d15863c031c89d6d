//! Key files through the `tollgate` binary: `verify --key`, `verify --secret` and `keys import`
//! (issue 10: a key file is never guessed to be an HMAC secret).

use crate::common;

use std::path::{Path, PathBuf};

use common::{NOW, Ring, claims, hmac_token, tollgate};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/rfc7515")
        .join(name)
}

fn fixture_str(name: &str) -> String {
    fixture(name).to_str().unwrap().to_string()
}

/// `tollgate --store memory: --now NOW --json verify TOKEN ARGS`, with no keyring.
fn verify(ring: &Ring, token: &str, args: &[&str]) -> common::Out {
    let mut all = vec![
        "--store",
        "memory:",
        "--now",
        "1800000000",
        "--json",
        "verify",
        token,
    ];
    all.extend_from_slice(args);
    ring.run(&all)
}

/// A token tollgate's profile accepts (typ at+jwt, sub, jti, iat, exp), HMAC-signed with `key`.
fn hs256_token(key: &[u8]) -> String {
    hmac_token(
        "HS256",
        key,
        &json!({"alg": "HS256", "typ": "at+jwt"}),
        &claims(),
    )
}

/// Every file form of the RFC 7515 A.2 (RSA) and A.3 (P-256) public keys.
const PUBLIC_FORMS: [&str; 14] = [
    "a2-rs256.pub.der",
    "a2-rs256.pub.bom.pem",
    "a2-rs256.pub.text.pem",
    "a2-rs256.pub.pem",
    "a2-rs256.pub.jwk",
    "a2-rs256.pub.jwks.json",
    "a2-rs256.cert.pem",
    "a3-es256.pub.der",
    "a3-es256.pub.bom.pem",
    "a3-es256.pub.text.pem",
    "a3-es256.pub.pem",
    "a3-es256.pub.jwk",
    "a3-es256.pub.jwks.json",
    "a3-es256.cert.der",
];

/// Issue 10: an HS256 token signed with a public key file's own bytes used to verify (exit 0)
/// with `--key FILE`, because the file was taken as an HMAC secret. Now the file is read as the
/// public key it is, and the token is refused as `disallowed_alg` (exit 1): the key is fine, the
/// token claims an algorithm the key does not allow. The same file given as `--secret` is
/// refused as `bad_key` (exit 3): a key file is never a secret.
#[test]
fn issue_10_hs256_tokens_forged_with_public_key_file_bytes_are_refused() {
    let ring = Ring::new();
    for name in PUBLIC_FORMS {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let forged = hs256_token(&bytes);
        let out = verify(&ring, &forged, &["--key", &fixture_str(name)]).code(1);
        assert_eq!(out.kind(), "disallowed_alg", "{name}");
        assert_eq!(out.json()["valid"], false);

        let out = verify(&ring, &forged, &["--secret", &fixture_str(name)]).code(3);
        assert_eq!(out.kind(), "bad_key", "{name}");
        let message = out.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(
            message.contains(name) && message.contains("--key"),
            "{message}"
        );
    }
    assert!(!ring.dir.exists(), "no keyring was needed");
}

#[test]
fn a_real_secret_verifies_through_secret_and_never_through_key() {
    let ring = Ring::new();
    // A tollgate-minted HS256 token, and the raw bytes of its keyring's secret.
    let kid = ring.generate("HS256");
    let minted = ring.mint(&[]);
    let secret = ring.write("hs256.secret", ring.hmac_secret(&kid));
    let v = verify(&ring, &minted, &["--secret", &secret]).ok().json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["claims"]["sub"], "alice");
    // A hand-signed token without kid, with 32 bytes of a secret.
    let raw = ring.write("raw.secret", [0x5au8; 32]);
    let token = hs256_token(&[0x5au8; 32]);
    verify(&ring, &token, &["--secret", &raw]).ok();
    // The wrong secret is a bad signature.
    let wrong = ring.write("wrong.secret", [0x5bu8; 32]);
    assert_eq!(
        verify(&ring, &token, &["--secret", &wrong]).code(1).kind(),
        "bad_signature"
    );
    // Raw bytes are never a --key file: bad_key naming the file and pointing at --secret.
    let out = verify(&ring, &token, &["--key", &raw]).code(3);
    assert_eq!(out.kind(), "bad_key");
    let message = out.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("raw.secret") && message.contains("--secret"),
        "{message}"
    );
    // --key and --secret together: each token finds its key.
    let ed = Ring::new();
    let ed_kid = ed.generate("EdDSA");
    let ed_token = ed.mint(&[]);
    let pem = ring.write("ed.pem", ed.export(&ed_kid, &["--format", "pem"]));
    verify(&ring, &ed_token, &["--key", &pem, "--secret", &raw]).ok();
    verify(&ring, &token, &["--key", &pem, "--secret", &raw]).ok();
}

#[test]
fn a_single_oct_jwk_is_the_declared_secret_form_of_key() {
    let ring = Ring::new();
    let kid = ring.generate("HS256");
    let minted = ring.mint(&[]);
    let jwk = ring.write("hs.jwk", ring.export(&kid, &["--private"]));
    verify(&ring, &minted, &["--key", &jwk]).ok();
    let set = ring.write(
        "hs.jwks.json",
        format!("{{\"keys\": [{}]}}", ring.export(&kid, &["--private"])),
    );
    let out = verify(&ring, &minted, &["--key", &set]).code(3);
    assert_eq!(out.kind(), "bad_key");
}

#[test]
fn private_key_files_verify_with_their_public_half_in_pem_and_der() {
    let issuer = Ring::new();
    let kid = issuer.generate("ES256");
    let token = issuer.mint(&[]);
    let pem = issuer.export(&kid, &["--private"]);
    let ring = Ring::new();
    let pem_file = ring.write("k.pem", &pem);
    let der_file = ring.write("k.der", common::pem_contents(&pem, "PRIVATE KEY"));
    let text_file = ring.write(
        "k.txt",
        format!("\u{feff}my key, keep it safe\n{pem}\nend\n"),
    );
    for file in [pem_file, der_file, text_file] {
        let v = verify(&ring, &token, &["--key", &file]).ok().json();
        assert_eq!(v["valid"], true, "{file}");
    }
}

#[test]
fn skipped_set_members_are_warned_about_on_stderr() {
    let ring = Ring::new();
    let issuer = Ring::new();
    issuer.generate("ES256");
    let token = issuer.mint(&[]);
    let mut jwks: Value = serde_json::from_str(&issuer.run(&["keys", "jwks"]).ok().stdout).unwrap();
    let p521: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("a4-es512.pub.jwk")).unwrap())
            .unwrap();
    jwks["keys"].as_array_mut().unwrap().push(p521);
    let file = ring.write("jwks.json", jwks.to_string());
    let out = verify(&ring, &token, &["--key", &file]).ok();
    assert!(out.stderr.contains("warning"), "{}", out.stderr);
    assert!(out.stderr.contains("P-521"), "{}", out.stderr);
}

#[test]
fn keys_import_takes_every_public_form_and_refuses_secrets() {
    for name in [
        "a2-rs256.pub.der",
        "a2-rs256.pub.bom.pem",
        "a2-rs256.pub.text.pem",
        "a2-rs256.pub.bom.jwk",
        "a2-rs256.cert.der",
        "a3-es256.cert.pem",
        "a3-es256.pub.bom.jwks.json",
    ] {
        let ring = Ring::new();
        let v = ring
            .at(NOW, &["--json", "keys", "import", &fixture_str(name)])
            .ok()
            .json();
        let imported = v["imported"].as_array().unwrap();
        assert_eq!(imported.len(), 1, "{name}");
        let want = if name.starts_with("a2") {
            "RS256"
        } else {
            "ES256"
        };
        assert_eq!(imported[0]["alg"], want, "{name}");
    }
    let ring = Ring::new();
    for (name, code, kind) in [
        ("a1-hs256.secret", 3, "bad_key"),
        ("a1-hs256.jwk", 2, "usage"),
        ("a1-hs256.jwks.json", 3, "bad_key"),
        ("a2-rs256.key.der", 2, "usage"),
        ("a4-es512.pub.pem", 3, "bad_key"),
    ] {
        let out = ring
            .at(NOW, &["--json", "keys", "import", &fixture_str(name)])
            .code(code);
        assert_eq!(out.kind(), kind, "{name}");
    }
    // A set with one unsupported member imports the rest and says what it skipped.
    let out = ring
        .at(NOW, &["keys", "import", &fixture_str("all.pub.jwks.json")])
        .ok();
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(out.stderr.contains("P-521"), "{}", out.stderr);
}

#[test]
fn verify_help_offers_secret_and_no_longer_raw_secrets_in_key() {
    let out = tollgate().args(["verify", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--secret <FILE>"), "{help}");
    assert!(!help.contains("or a raw HMAC secret"), "{help}");
}
