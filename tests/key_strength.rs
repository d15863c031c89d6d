//! Issue 15: weak or misused key material is refused everywhere a key enters, through the
//! library: `KeySet` (key files, JWK Sets, raw secrets), `Keyring::import`, `Keyring::generate`,
//! and the keyring's own files when `Keyring::open` reads them after an edit on disk.
//!
//! Weak RSA keys come from `tests/fixtures/weak_rsa.py` (python3; `cryptography` for the ROCA
//! key's PEM forms, `roca-detect` for the agreement test; `scripts/test` installs both).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tollgate::{Algorithm, Clock, Error, ErrorKind, KeySet, Keyring, MintOptions};

use common::{TempKeyring, now};

/// Runs `tests/fixtures/weak_rsa.py ARGS` with `stdin`; panics with its stderr when it fails.
fn weak_rsa(args: &[&str], stdin: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weak_rsa.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (the key-strength tests need it; scripts/test installs it)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "weak_rsa.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn roca_key(seed: u32) -> Value {
    weak_rsa(&["roca", &seed.to_string()], "")
}

#[track_caller]
fn refused(result: Result<impl std::fmt::Debug, Error>, words: &[&str]) -> Error {
    let e = result.expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::BadKey, "{}", e.message());
    for word in words {
        assert!(e.message().contains(word), "{word:?} in: {}", e.message());
    }
    e
}

fn oct(len: usize, alg: Option<&str>) -> String {
    use base64::Engine;
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![0x42u8; len]);
    let mut jwk = json!({"kty": "oct", "k": k});
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk.to_string()
}

#[test]
fn hmac_secrets_serve_only_the_algorithms_their_length_covers() {
    refused(
        KeySet::from_secret(&[1; 31], &[]),
        &["31 bytes", "32-byte", "urandom"],
    );
    refused(KeySet::from_secret(&[], &[]), &["0 bytes"]);
    for (len, algs) in [
        (32, vec![Algorithm::HS256]),
        (47, vec![Algorithm::HS256]),
        (48, vec![Algorithm::HS256, Algorithm::HS384]),
        (
            64,
            vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
        ),
    ] {
        let set = KeySet::from_secret(&vec![1; len], &[]).unwrap();
        assert_eq!(set.iter().next().unwrap().algorithms(), algs, "{len} bytes");
        let set = KeySet::from_bytes(oct(len, None).as_bytes(), &[]).unwrap();
        assert_eq!(
            set.iter().next().unwrap().algorithms(),
            algs,
            "oct JWK of {len} bytes"
        );
    }
}

#[test]
fn an_oct_jwk_too_short_for_itself_or_its_alg_is_refused() {
    refused(
        KeySet::from_bytes(oct(16, None).as_bytes(), &[]),
        &["16 bytes"],
    );
    refused(
        KeySet::from_bytes(oct(48, Some("HS512")).as_bytes(), &[]),
        &["48 bytes", "HS512", "64-byte"],
    );
    let set = KeySet::from_bytes(oct(48, Some("HS384")).as_bytes(), &[]).unwrap();
    assert_eq!(set.iter().next().unwrap().algorithms(), &[Algorithm::HS384]);
}

#[test]
fn generated_hmac_keys_are_as_long_as_their_hash() {
    let mut ring = TempKeyring::new();
    let clock = Clock::fixed(now());
    for (alg, len) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        // One key signs; each further one rotates in (a keyring holds one `next` key at most).
        let entry = if ring.keyring.entries().is_empty() {
            ring.keyring.generate(alg, None, &clock).unwrap()
        } else {
            ring.keyring.rotate(Some(alg), false, &clock).unwrap()
        };
        let jwk: Value =
            serde_json::from_str(&ring.keyring.export(&entry.kid, true, None).unwrap()).unwrap();
        let k = common_b64(jwk["k"].as_str().unwrap());
        assert_eq!(k.len(), len, "{alg}");
    }
    // And the keyring opens again with all three.
    Keyring::open(ring.keyring.dir()).unwrap();
}

fn common_b64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[test]
fn weak_rsa_public_keys_are_refused_in_every_form_and_entry() {
    let malformed = weak_rsa(&["malformed"], "");
    let roca = roca_key(1);
    let cases = [
        (
            "short",
            &malformed["short"],
            vec!["2047 bits", "2048-bit minimum"],
        ),
        ("even_e", &malformed["even_e"], vec!["exponent must be odd"]),
        ("e_one", &malformed["e_one"], vec!["greater than 1"]),
        ("roca", &roca, vec!["ROCA", "CVE-2017-15361", "regenerate"]),
    ];
    for (name, key, words) in cases {
        let jwk = key["jwk"].to_string();
        let pem = key["spki_pem"].as_str().unwrap();
        // A key file, alone or in a JWK Set (where it is skipped, and the set has nothing left).
        refused(KeySet::from_bytes(jwk.as_bytes(), &[]), &words);
        refused(KeySet::from_bytes(pem.as_bytes(), &[]), &words);
        let set = json!({"keys": [key["jwk"]]}).to_string();
        refused(KeySet::from_bytes(set.as_bytes(), &[]), &words);
        // Imported into a keyring.
        let mut ring = TempKeyring::new();
        for input in [jwk.as_str(), pem] {
            refused(
                ring.keyring
                    .import(input.as_bytes(), None, None, None, &Clock::fixed(now())),
                &words,
            );
        }
        assert!(ring.keyring.entries().is_empty(), "{name}");
    }
    // The ROCA private key is refused too (its public half is the same modulus).
    refused(
        KeySet::from_bytes(roca["pkcs8_pem"].as_str().unwrap().as_bytes(), &[]),
        &["ROCA"],
    );
    // In a set with a sound key, the weak member is skipped and counted.
    let sound: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rfc7515/a2-rs256.pub.jwk"),
        )
        .unwrap(),
    )
    .unwrap();
    let set = json!({"keys": [sound, roca["jwk"], malformed["short"]["jwk"]]}).to_string();
    let keys = KeySet::from_bytes(set.as_bytes(), &[]).unwrap();
    assert_eq!(keys.iter().count(), 1);
    assert_eq!(keys.skipped(), 2);
    assert!(keys.skip_reasons().any(|r| r.contains("ROCA")));
}

#[test]
fn roca_detect_agrees_with_tollgate() {
    let mut moduli = Vec::new();
    for seed in [1, 2] {
        moduli.push((roca_key(seed)["jwk"].clone(), true));
    }
    let rfc: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rfc7515/a2-rs256.pub.jwk"),
        )
        .unwrap(),
    )
    .unwrap();
    moduli.push((rfc, false));
    let mut ring = TempKeyring::new();
    for i in 0..3 {
        let clock = Clock::fixed(now());
        let entry = if i == 0 {
            ring.keyring.generate(Algorithm::RS256, None, &clock)
        } else {
            ring.keyring.rotate(Some(Algorithm::RS256), false, &clock)
        }
        .unwrap();
        let jwk = serde_json::to_value(ring.keyring.public_key(&entry.kid).unwrap().to_jwk());
        moduli.push((jwk.unwrap(), false));
    }
    let hex: Vec<String> = moduli
        .iter()
        .map(|(jwk, _)| {
            common_b64(jwk["n"].as_str().unwrap())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect();
    let detect = weak_rsa(&["detect"], &hex.join("\n"));
    for (i, (jwk, vulnerable)) in moduli.iter().enumerate() {
        let tollgate = match KeySet::from_bytes(jwk.to_string().as_bytes(), &[]) {
            Ok(_) => false,
            Err(e) => e.message().contains("ROCA"),
        };
        assert_eq!(tollgate, *vulnerable, "modulus {i}");
        assert_eq!(detect[i], json!(tollgate), "roca-detect on modulus {i}");
    }
}

/// A keyring with one key of `alg`, and the path of that key's file.
fn ring_with(alg: Algorithm) -> (TempKeyring, String, std::path::PathBuf) {
    let ring = TempKeyring::with_key(alg);
    let kid = ring.kid();
    let file = ring
        .keyring
        .dir()
        .join(&ring.keyring.entry(&kid).unwrap().file);
    (ring, kid, file)
}

fn edit_json(path: &Path, change: impl FnOnce(&mut Value)) {
    let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    change(&mut value);
    std::fs::write(path, value.to_string()).unwrap();
}

#[test]
fn keyring_hmac_files_edited_on_disk_are_refused_on_open() {
    // A secret shortened below the minimum.
    let (ring, _, file) = ring_with(Algorithm::HS256);
    edit_json(&file, |jwk| jwk["k"] = json!("QUJDREVGR0hJSktMTU5PUA"));
    let e = refused(Keyring::open(ring.keyring.dir()), &["16 bytes", "32-byte"]);
    assert!(
        e.message().contains(&file.display().to_string()),
        "{}",
        e.message()
    );

    // A manifest that claims a longer hash than the secret covers: refused for its alg (the
    // file's own), and, with no alg in the file, for its length.
    let (ring, _, file) = ring_with(Algorithm::HS256);
    edit_json(&ring.keyring.dir().join("keyring.json"), |m| {
        m["keys"][0]["alg"] = json!("HS512")
    });
    refused(Keyring::open(ring.keyring.dir()), &["HS256", "HS512"]);
    edit_json(&file, |jwk| {
        jwk.as_object_mut().unwrap().remove("alg");
    });
    refused(
        Keyring::open(ring.keyring.dir()),
        &["32 bytes", "HS512", "64-byte"],
    );

    // A file whose alg names another algorithm than the manifest.
    let (ring, _, file) = ring_with(Algorithm::HS512);
    edit_json(&file, |jwk| jwk["alg"] = json!("HS384"));
    refused(Keyring::open(ring.keyring.dir()), &["HS384", "HS512"]);

    // use other than sig.
    let (ring, _, file) = ring_with(Algorithm::HS256);
    edit_json(&file, |jwk| jwk["use"] = json!("enc"));
    refused(Keyring::open(ring.keyring.dir()), &["\"enc\""]);
}

#[test]
fn key_ops_without_sign_stops_the_active_key_signing_but_not_a_verify_key() {
    let (mut ring, old, file) = ring_with(Algorithm::HS256);
    let clock = Clock::fixed(now());
    let token = tollgate::mint(&ring.keyring, &MintOptions::new("alice"), &clock)
        .unwrap()
        .token;
    edit_json(&file, |jwk| jwk["key_ops"] = json!(["verify"]));
    refused(Keyring::open(ring.keyring.dir()), &["key_ops", "\"sign\""]);
    // Restore, rotate so the key only verifies, then restrict it again: it opens and verifies.
    edit_json(&file, |jwk| {
        jwk.as_object_mut().unwrap().remove("key_ops");
    });
    ring.keyring = Keyring::open(ring.keyring.dir()).unwrap();
    ring.keyring.rotate(None, false, &clock).unwrap();
    edit_json(&file, |jwk| jwk["key_ops"] = json!(["verify"]));
    let keyring = Keyring::open(ring.keyring.dir()).unwrap();
    assert_eq!(
        keyring.entry(&old).unwrap().state,
        tollgate::KeyState::Verify
    );
    tollgate::verify::<Value>(&token, keyring.key_set(), &Default::default(), &clock).unwrap();
    // key_ops without verify refuses it even as a verify key.
    edit_json(&file, |jwk| jwk["key_ops"] = json!(["sign"]));
    refused(Keyring::open(ring.keyring.dir()), &["\"verify\""]);
}

#[test]
fn keyring_rsa_files_edited_on_disk_are_refused_on_open() {
    let roca = roca_key(3);
    // An imported public key whose modulus is replaced by a ROCA one.
    let mut ring = TempKeyring::with_key(Algorithm::EdDSA);
    let rfc = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rfc7515/a2-rs256.pub.jwk"),
    )
    .unwrap();
    let imported = ring
        .keyring
        .import(&rfc, Some("partner"), None, None, &Clock::fixed(now()))
        .unwrap();
    let file = ring.keyring.dir().join(&imported.entries[0].file);
    edit_json(&file, |jwk| jwk["n"] = roca["jwk"]["n"].clone());
    let e = refused(Keyring::open(ring.keyring.dir()), &["ROCA", "partner"]);
    assert!(
        e.message().contains(&file.display().to_string()),
        "{}",
        e.message()
    );
    // The same file with an even exponent.
    edit_json(&file, |jwk| {
        jwk["n"] = json!(common_rfc_n());
        jwk["e"] = json!("AQAA");
    });
    refused(Keyring::open(ring.keyring.dir()), &["odd"]);
    // An imported key file whose use is enc.
    edit_json(&file, |jwk| {
        jwk["e"] = json!("AQAB");
        jwk["use"] = json!("enc");
    });
    refused(Keyring::open(ring.keyring.dir()), &["\"enc\""]);

    // A private RS256 key file replaced by the ROCA key.
    let (ring, _, file) = ring_with(Algorithm::RS256);
    std::fs::write(&file, roca["pkcs8_pem"].as_str().unwrap()).unwrap();
    refused(Keyring::open(ring.keyring.dir()), &["ROCA"]);
}

fn common_rfc_n() -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rfc7515/a2-rs256.pub.jwk"),
    )
    .unwrap();
    let jwk: Value = serde_json::from_str(&text).unwrap();
    jwk["n"].as_str().unwrap().to_string()
}
