//! Key files through the `tollgate` binary: `verify --key`, `verify --secret` and `keys import`
//! (issue 10: a key file is never guessed to be an HMAC secret).

use crate::common;

use std::path::{Path, PathBuf};

use common::{Ring, claims, hmac_token, now, tollgate};
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
    let now = now().to_string();
    let mut all = vec![
        "--store",
        "memory:",
        "--now",
        now.as_str(),
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

/// The key file forms the test above does not forge with: the byte-order-mark JWK and JWK Set,
/// the other certificate encodings, and private key files (whose public half `--key` uses).
const MORE_FORMS: [&str; 12] = [
    "a2-rs256.pub.bom.jwk",
    "a2-rs256.pub.bom.jwks.json",
    "a2-rs256.cert.der",
    "a2-rs256.key.pem",
    "a2-rs256.key.der",
    "a2-rs256.jwk",
    "a3-es256.pub.bom.jwk",
    "a3-es256.pub.bom.jwks.json",
    "a3-es256.cert.pem",
    "a3-es256.key.pem",
    "a3-es256.key.der",
    "a3-es256.jwk",
];

/// An HMAC token over a generic RFC 7519 header and claims (`alg`, optional `typ` and `kid`;
/// `sub` and `exp` only): what an attacker sends when only `exp` is required.
fn forged(alg: &str, secret: &[u8], typ: Option<&str>, kid: Option<&str>) -> String {
    let mut header = json!({"alg": alg});
    if let Some(typ) = typ {
        header["typ"] = json!(typ);
    }
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    let claims = json!({"sub": "mallory", "exp": now() + 300});
    hmac_token(alg, secret, &header, &claims)
}

/// Every HMAC algorithm, each with another header shape the generic profile accepts.
const HMAC_SHAPES: [(&str, Option<&str>); 3] = [
    ("HS256", None),
    ("HS384", Some("JWT")),
    ("HS512", Some("at+jwt")),
];

/// Issue 10, extended: HS256, HS384 and HS512 tokens (with the generic profile's headers: no
/// `typ`, `JWT`, `at+jwt`) forged with the bytes of every key file form, private key files
/// included, are refused as `disallowed_alg` (exit 1) when that file is the `--key`.
#[test]
fn hmac_tokens_forged_with_any_key_file_form_are_refused() {
    let ring = Ring::new();
    for name in PUBLIC_FORMS.iter().chain(MORE_FORMS.iter()) {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for (alg, typ) in HMAC_SHAPES {
            let token = forged(alg, &bytes, typ, None);
            let out = verify(&ring, &token, &["--key", &fixture_str(name)]).code(1);
            assert_eq!(out.kind(), "disallowed_alg", "{name} {alg}");
            assert_eq!(out.json()["valid"], false, "{name} {alg}");
        }
    }
}

/// The other encodings of the same public key an attacker may guess a verifier turns into an
/// HMAC secret: the SPKI DER, the PEM text with or without its final newline or with CR LF, the
/// JWK text, its RFC 7638 thumbprint input, and the raw modulus or point. None verifies with any
/// form of the key, nor with `--alg` naming the HMAC algorithm.
#[test]
fn hmac_tokens_forged_with_other_encodings_of_the_public_key_are_refused() {
    let ring = Ring::new();
    for key in ["a2-rs256", "a3-es256"] {
        let pem = std::fs::read_to_string(fixture(&format!("{key}.pub.pem"))).unwrap();
        let jwk: Value = serde_json::from_str(
            &std::fs::read_to_string(fixture(&format!("{key}.pub.jwk"))).unwrap(),
        )
        .unwrap();
        let (canonical, raw) = if key.starts_with("a2") {
            (
                format!(
                    r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                    jwk["e"].as_str().unwrap(),
                    jwk["n"].as_str().unwrap()
                ),
                common::unb64(jwk["n"].as_str().unwrap()),
            )
        } else {
            let (x, y) = (jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap());
            let mut point = vec![4u8];
            point.extend(common::unb64(x));
            point.extend(common::unb64(y));
            (
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
                point,
            )
        };
        let secrets: Vec<(&str, Vec<u8>)> = vec![
            ("SPKI DER", common::pem_contents(&pem, "PUBLIC KEY")),
            ("PEM", pem.clone().into_bytes()),
            (
                "PEM without its last newline",
                pem.trim_end().as_bytes().to_vec(),
            ),
            ("PEM with CR LF", pem.replace('\n', "\r\n").into_bytes()),
            ("JWK", jwk.to_string().into_bytes()),
            ("RFC 7638 thumbprint input", canonical.into_bytes()),
            ("raw modulus or point", raw),
        ];
        for form in ["pub.pem", "pub.der", "pub.jwk", "pub.jwks.json"] {
            let file = fixture_str(&format!("{key}.{form}"));
            for (what, secret) in &secrets {
                let token = forged("HS256", secret, None, None);
                let out = verify(&ring, &token, &["--key", &file]).code(1);
                assert_eq!(out.kind(), "disallowed_alg", "{key}.{form}: {what}");
                let out = verify(&ring, &token, &["--key", &file, "--alg", "HS256"]).code(1);
                assert_eq!(
                    out.kind(),
                    "disallowed_alg",
                    "{key}.{form} --alg HS256: {what}"
                );
            }
        }
    }
}

/// The same forgeries against a key imported into the keyring (`keys import`, with or without
/// `--iss`), the token naming the imported kid: plain `verify` with the keyring refuses them.
#[test]
fn hmac_tokens_forged_against_an_imported_key_are_refused() {
    for key in ["a2-rs256", "a3-es256"] {
        for iss in [None, Some("https://partner.example")] {
            let ring = Ring::new();
            let mut import = vec!["--json", "keys", "import"];
            let jwk = fixture_str(&format!("{key}.pub.jwk"));
            import.push(&jwk);
            if let Some(iss) = iss {
                import.extend_from_slice(&["--iss", iss]);
            }
            let v = ring.at(now(), &import).ok().json();
            let kid = v["imported"][0]["kid"].as_str().unwrap().to_string();
            for form in [
                "pub.pem",
                "pub.der",
                "pub.jwk",
                "pub.jwks.json",
                "pub.bom.pem",
            ] {
                let bytes = std::fs::read(fixture(&format!("{key}.{form}"))).unwrap();
                for (alg, typ) in HMAC_SHAPES {
                    let mut header = json!({"alg": alg, "kid": kid});
                    if let Some(typ) = typ {
                        header["typ"] = json!(typ);
                    }
                    let mut claims = json!({"sub": "mallory", "exp": now() + 300});
                    if let Some(iss) = iss {
                        claims["iss"] = json!(iss);
                    }
                    let token = hmac_token(alg, &bytes, &header, &claims);
                    let out = ring
                        .at(now(), &["--store", "memory:", "--json", "verify", &token])
                        .code(1);
                    assert_eq!(
                        out.kind(),
                        "disallowed_alg",
                        "{key}.{form} {alg} iss {iss:?}"
                    );
                }
            }
        }
    }
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
            .at(now(), &["--json", "keys", "import", &fixture_str(name)])
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
            .at(now(), &["--json", "keys", "import", &fixture_str(name)])
            .code(code);
        assert_eq!(out.kind(), kind, "{name}");
    }
    // A set with one unsupported member imports the rest and says what it skipped.
    let out = ring
        .at(
            now(),
            &["keys", "import", &fixture_str("all.pub.jwks.json")],
        )
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
