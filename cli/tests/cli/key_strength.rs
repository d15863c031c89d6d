//! Issue 15 through the `tollgate` binary: weak or misused keys are refused on every entry path
//! (`verify --secret`, `verify --key`, `keys import`, `keys generate`, and a keyring file edited
//! on disk), each refusal exit 3 `bad_key` naming the file, the rule and the fix.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Ring, claims, hmac_token, now};
use serde_json::{Value, json};

/// `tests/fixtures/weak_rsa.py ARGS` (python3); panics with its stderr when it fails.
fn weak_rsa(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/weak_rsa.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs (the key-strength tests need it; scripts/test installs it)");
    assert!(
        out.status.success(),
        "weak_rsa.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `tollgate --store memory: --now NOW --json verify TOKEN ARGS`.
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

/// Asserts exit 3 `bad_key` whose message has every one of `words`.
#[track_caller]
fn bad_key(out: common::Out, words: &[&str]) {
    let out = out.code(3);
    assert_eq!(out.kind(), "bad_key");
    let message = out.json()["error"]["message"].as_str().unwrap().to_string();
    for word in words {
        assert!(message.contains(word), "{word:?} in: {message}");
    }
}

fn token(alg: &str, secret: &[u8]) -> String {
    hmac_token(
        alg,
        secret,
        &json!({"alg": alg, "typ": "at+jwt"}),
        &claims(),
    )
}

#[test]
fn secret_files_shorter_than_32_bytes_are_refused() {
    let ring = Ring::new();
    let short = ring.write("short.secret", [7u8; 31]);
    bad_key(
        verify(&ring, &token("HS256", &[7u8; 31]), &["--secret", &short]),
        &["short.secret", "31 bytes", "32-byte minimum", "urandom"],
    );
    let ok = ring.write("ok.secret", [7u8; 32]);
    verify(&ring, &token("HS256", &[7u8; 32]), &["--secret", &ok]).ok();
    // 32 bytes are too few for HS384: the key does not allow it.
    let out = verify(&ring, &token("HS384", &[7u8; 32]), &["--secret", &ok]).code(1);
    assert_eq!(out.kind(), "disallowed_alg");
    let long = ring.write("long.secret", [7u8; 48]);
    verify(&ring, &token("HS384", &[7u8; 48]), &["--secret", &long]).ok();
}

#[test]
fn oct_jwk_key_files_must_be_long_enough_for_their_alg() {
    let ring = Ring::new();
    let b64 = common::b64;
    let short = ring.write(
        "short.jwk",
        json!({"kty": "oct", "k": b64(&[7; 16])}).to_string(),
    );
    bad_key(
        verify(&ring, &token("HS256", &[7; 16]), &["--key", &short]),
        &["short.jwk", "16 bytes"],
    );
    let named = ring.write(
        "named.jwk",
        json!({"kty": "oct", "k": b64(&[7; 48]), "alg": "HS512"}).to_string(),
    );
    bad_key(
        verify(&ring, &token("HS512", &[7; 48]), &["--key", &named]),
        &["named.jwk", "48 bytes", "HS512", "64-byte"],
    );
    // alg restricts: an HS256 token against an oct JWK with alg HS384 is refused.
    let hs384 = ring.write(
        "hs384.jwk",
        json!({"kty": "oct", "k": b64(&[7; 48]), "alg": "HS384"}).to_string(),
    );
    verify(&ring, &token("HS384", &[7; 48]), &["--key", &hs384]).ok();
    let out = verify(&ring, &token("HS256", &[7; 48]), &["--key", &hs384]).code(1);
    assert_eq!(out.kind(), "disallowed_alg");
}

#[test]
fn weak_rsa_keys_are_refused_by_key_and_by_import() {
    let malformed = weak_rsa(&["malformed"]);
    let roca = weak_rsa(&["roca", "4"]);
    let ring = Ring::new();
    let any_token = token("HS256", &[7; 32]);
    for (name, key, words) in [
        (
            "short",
            &malformed["short"],
            &["2047 bits", "2048-bit minimum"][..],
        ),
        ("even_e", &malformed["even_e"], &["exponent must be odd"]),
        ("e_one", &malformed["e_one"], &["greater than 1"]),
        ("roca", &roca, &["ROCA", "CVE-2017-15361", "regenerate"]),
    ] {
        let jwk = ring.write(&format!("{name}.jwk"), key["jwk"].to_string());
        let pem = ring.write(&format!("{name}.pem"), key["spki_pem"].as_str().unwrap());
        for file in [&jwk, &pem] {
            let mut want = words.to_vec();
            want.push(file.rsplit('/').next().unwrap());
            bad_key(verify(&ring, &any_token, &["--key", file]), &want);
            bad_key(ring.at(now(), &["--json", "keys", "import", file]), &want);
        }
    }
    let private = ring.write("roca.key.pem", roca["pkcs8_pem"].as_str().unwrap());
    bad_key(verify(&ring, &any_token, &["--key", &private]), &["ROCA"]);
    assert!(!ring.dir.join("keyring.json").exists() || ring.list().is_empty());
}

#[test]
fn keys_generate_makes_hmac_secrets_as_long_as_their_hash() {
    let ring = Ring::new();
    for (i, (alg, len)) in [("HS256", 32), ("HS384", 48), ("HS512", 64)]
        .into_iter()
        .enumerate()
    {
        // One key signs; each further one rotates in (a keyring holds one `next` key at most).
        let kid = if i == 0 {
            ring.generate(alg)
        } else {
            ring.rotate(now(), &["--alg", alg])
        };
        assert_eq!(ring.hmac_secret(&kid).len(), len, "{alg}");
    }
    assert_eq!(ring.list().len(), 3, "the keyring still opens");
}

#[test]
fn a_keyring_file_edited_on_disk_is_refused_by_every_command() {
    let ring = Ring::new();
    let kid = ring.generate("HS256");
    let token = ring.mint(&[]);
    let file = ring.dir.join(format!("{kid}.jwk"));
    let original = std::fs::read_to_string(&file).unwrap();
    let mut jwk: Value = serde_json::from_str(&original).unwrap();
    jwk["k"] = json!(common::b64(&[7; 20]));
    std::fs::write(&file, jwk.to_string()).unwrap();
    let name = format!("{kid}.jwk");
    bad_key(
        ring.verify(&token, &[]),
        &[&name, "20 bytes", "32-byte minimum"],
    );
    bad_key(
        ring.at(now(), &["--json", "keys", "list"]),
        &[&name, "20 bytes"],
    );

    jwk["k"] = serde_json::from_str::<Value>(&original).unwrap()["k"].clone();
    jwk["key_ops"] = json!(["verify"]);
    std::fs::write(&file, jwk.to_string()).unwrap();
    bad_key(
        ring.at(now(), &["--json", "mint", "--sub", "alice"]),
        &[&name, "key_ops", "\"sign\""],
    );
}

#[test]
fn a_kid_two_keys_carry_is_unknown_kid_through_key() {
    let issuer = Ring::new();
    issuer.generate("EdDSA");
    let token = issuer.mint(&[]);
    let jwks: Value = serde_json::from_str(&issuer.run(&["keys", "jwks"]).ok().stdout).unwrap();
    let genuine = jwks["keys"][0].clone();
    let attacker = Ring::new();
    attacker.generate("EdDSA");
    let their: Value = serde_json::from_str(&attacker.run(&["keys", "jwks"]).ok().stdout).unwrap();
    let mut impostor = their["keys"][0].clone();
    impostor["kid"] = genuine["kid"].clone();

    let ring = Ring::new();
    let file = ring.write("jwks.json", json!({"keys": [genuine]}).to_string());
    verify(&ring, &token, &["--key", &file]).ok();
    let file = ring.write(
        "jwks.json",
        json!({"keys": [genuine, impostor]}).to_string(),
    );
    let out = verify(&ring, &token, &["--key", &file]).code(1);
    assert_eq!(out.kind(), "unknown_kid");
    // Across two --key files too.
    let a = ring.write("a.jwk", genuine.to_string());
    let b = ring.write("b.jwk", impostor.to_string());
    let out = verify(&ring, &token, &["--key", &a, "--key", &b]).code(1);
    assert_eq!(out.kind(), "unknown_kid");
}
