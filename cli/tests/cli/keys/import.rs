//! `tollgate keys import`.

use serde_json::{Value, json};

use crate::common::{Ring, now};

#[test]
fn spki_pem_from_another_keyring() {
    let issuer = Ring::new();
    let kid = issuer.generate("EdDSA");
    let token = issuer.mint(&[]);
    let pem = issuer.export(&kid, &["--format", "pem"]);

    let ring = Ring::new();
    ring.generate("EdDSA");
    let unknown = ring.verify(&token, &[]).code(1);
    assert_eq!(unknown.kind(), "unknown_kid");

    let file = ring.write("issuer.pem", &pem);
    let v = ring
        .at(now(), &["--json", "keys", "import", &file])
        .ok()
        .json();
    let imported = v["imported"].as_array().unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0]["kid"], kid.as_str(), "the thumbprint kid");
    assert_eq!(imported[0]["state"], "verify");
    assert_eq!(imported[0]["private"], false);
    assert_eq!(imported[0]["alg"], "EdDSA");

    let v = ring.verify(&token, &[]).ok().json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["key_state"], "verify");
    assert_eq!(Ring::mode(&ring.dir.join(format!("{kid}.pub.jwk"))), 0o600);
}

#[test]
fn jwk_from_another_keyring() {
    let issuer = Ring::new();
    issuer
        .at(
            now(),
            &["keys", "generate", "--alg", "ES256", "--kid", "issuer-es"],
        )
        .ok();
    let token = issuer.mint(&[]);
    let jwk = issuer.export("issuer-es", &[]);

    let ring = Ring::new();
    let file = ring.write("issuer.jwk", &jwk);
    // Import creates the keyring when needed; the output is the kid.
    let out = ring.at(now(), &["keys", "import", &file]).ok();
    assert_eq!(out.stdout.trim(), "issuer-es");
    assert_eq!(ring.entry("issuer-es")["alg"], "ES256");
    ring.verify(&token, &[]).ok();
}

#[test]
fn jwk_set_from_another_keyring() {
    let issuer = Ring::new();
    let a = issuer.generate("EdDSA");
    let early = issuer.mint(&[]);
    let b = issuer.rotate(now(), &["--alg", "RS256"]);
    let late = issuer.mint(&[]);
    let jwks = issuer.run(&["keys", "jwks"]).ok().stdout;

    let ring = Ring::new();
    ring.generate("EdDSA");
    let file = ring.write("jwks.json", &jwks);
    let v = ring
        .at(now(), &["--json", "keys", "import", &file])
        .ok()
        .json();
    let mut kids: Vec<&str> = v["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kid"].as_str().unwrap())
        .collect();
    kids.sort_unstable();
    let mut want = [a.as_str(), b.as_str()];
    want.sort_unstable();
    assert_eq!(kids, want);
    assert_eq!(ring.entry(&b)["alg"], "RS256");
    ring.verify(&early, &[]).ok();
    ring.verify(&late, &[]).ok();
    assert_eq!(ring.list().len(), 3);
}

#[test]
fn from_stdin() {
    let issuer = Ring::new();
    let kid = issuer.generate("ES384");
    let token = issuer.mint(&[]);
    let jwk = issuer.export(&kid, &[]);
    let ring = Ring::new();
    ring.stdin(now(), &["keys", "import", "-"], &jwk).ok();
    ring.verify(&token, &[]).ok();
}

#[test]
fn kid_option_renames_and_duplicates_are_usage() {
    let issuer = Ring::new();
    let kid = issuer.generate("EdDSA");
    let pem = issuer.export(&kid, &["--format", "pem"]);
    let ring = Ring::new();
    let file = ring.write("k.pem", &pem);
    let out = ring
        .at(now(), &["keys", "import", &file, "--kid", "partner"])
        .ok();
    assert_eq!(out.stdout.trim(), "partner");
    let dup = ring
        .at(
            now(),
            &["--json", "keys", "import", &file, "--kid", "partner"],
        )
        .code(2);
    assert_eq!(dup.kind(), "usage");
}

#[test]
fn kid_from_the_input_cannot_escape_the_directory() {
    let issuer = Ring::new();
    let kid = issuer.generate("EdDSA");
    let mut jwk: Value = serde_json::from_str(&issuer.export(&kid, &[])).unwrap();
    let ring = Ring::new();
    ring.generate("EdDSA");
    for evil in ["../evil", "a/b", ".hidden", ""] {
        jwk["kid"] = json!(evil);
        let file = ring.write("evil.jwk", jwk.to_string());
        let out = ring.at(now(), &["--json", "keys", "import", &file]).code(2);
        assert_eq!(out.kind(), "usage", "{evil:?}");
    }
    assert!(!ring.path("evil.pub.jwk").exists());
    assert_eq!(ring.list().len(), 1);
}

#[test]
fn private_material_is_refused() {
    let issuer = Ring::new();
    let ed = issuer.generate("EdDSA");
    let hs = issuer.generate("HS256");
    let private_pem = issuer.export(&ed, &["--private"]);
    assert!(private_pem.contains("PRIVATE KEY"));
    let private_jwk = issuer.export(&ed, &["--private", "--format", "jwk"]);
    assert!(private_jwk.contains("\"d\""));
    let secret_jwk = issuer.export(&hs, &["--private"]);
    assert!(secret_jwk.contains("\"k\""));
    let public_jwk: Value = serde_json::from_str(&issuer.export(&ed, &[])).unwrap();
    let private_value: Value = serde_json::from_str(&private_jwk).unwrap();
    let pem_body = private_pem.lines().nth(1).unwrap().to_string();
    let d = private_value["d"].as_str().unwrap().to_string();
    let secret_value: Value = serde_json::from_str(&secret_jwk).unwrap();
    let k = secret_value["k"].as_str().unwrap().to_string();
    let set_with_private = json!({"keys": [public_jwk, private_value]}).to_string();

    let ring = Ring::new();
    ring.generate("EdDSA");
    let before = ring.files();
    // A private key or secret given to import is a usage error; a JWK Set carrying a
    // private member is a leaked set, refused as bad_key like everywhere else (issue 10).
    for (name, contents, code, kind) in [
        ("private.pem", private_pem.as_str(), 2, "usage"),
        ("private.jwk", private_jwk.as_str(), 2, "usage"),
        ("secret.jwk", secret_jwk.as_str(), 2, "usage"),
        ("set.json", set_with_private.as_str(), 3, "bad_key"),
    ] {
        let file = ring.write(name, contents);
        let out = ring
            .at(now(), &["--json", "keys", "import", &file])
            .code(code);
        assert_eq!(out.kind(), kind, "{name}");
        assert!(
            !out.all().contains(&pem_body),
            "{name}: key material echoed"
        );
        assert!(!out.all().contains(&d), "{name}: key material echoed");
        assert!(!out.all().contains(&k), "{name}: key material echoed");
    }
    assert_eq!(ring.files(), before, "nothing was written");
    assert_eq!(ring.list().len(), 1);
}

#[test]
fn unreadable_input() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let missing = ring.path("missing.pem");
    let out = ring
        .at(
            now(),
            &["--json", "keys", "import", missing.to_str().unwrap()],
        )
        .code(2);
    assert_eq!(out.kind(), "usage");
    let garbage = ring.write("garbage.txt", "not a key");
    let out = ring
        .at(now(), &["--json", "keys", "import", &garbage])
        .code(3);
    assert_eq!(out.kind(), "bad_key");
}
