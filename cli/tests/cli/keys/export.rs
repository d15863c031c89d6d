//! `tollgate keys export`.

use serde_json::Value;

use crate::common::{self, Ring, now};

#[test]
fn public_jwk_by_default() {
    let ring = Ring::new();
    let kid = ring.generate("ES256");
    let jwk: Value = serde_json::from_str(&ring.export(&kid, &[])).unwrap();
    assert_eq!(jwk["kid"], kid.as_str());
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["alg"], "ES256");
    assert!(jwk.get("d").is_none());
    let explicit: Value = serde_json::from_str(&ring.export(&kid, &["--format", "jwk"])).unwrap();
    assert_eq!(explicit, jwk);
}

#[test]
fn public_pem() {
    let ring = Ring::new();
    let kid = ring.generate("RS256");
    let pem = ring.export(&kid, &["--format", "pem"]);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    assert!(!pem.contains("PRIVATE"));
}

#[test]
fn private_only_with_the_flag() {
    let ring = Ring::new();
    let ed = ring.generate("EdDSA");
    let public = ring.export(&ed, &[]);
    assert!(!public.contains("\"d\"") && !public.contains("PRIVATE"));
    let pem = ring.export(&ed, &["--private"]);
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let jwk: Value =
        serde_json::from_str(&ring.export(&ed, &["--private", "--format", "jwk"])).unwrap();
    assert!(jwk["d"].is_string());
    assert_eq!(jwk["kid"], ed.as_str());

    let hs = ring.generate("HS384");
    let secret: Value = serde_json::from_str(&ring.export(&hs, &["--private"])).unwrap();
    assert_eq!(secret["kty"], "oct");
    assert_eq!(secret["alg"], "HS384");
    assert_eq!(common::unb64(secret["k"].as_str().unwrap()).len(), 48);
}

#[test]
fn refusals_are_usage() {
    let ring = Ring::new();
    let hs = ring.generate("HS256");
    let rsa = ring.generate("RS256");
    let cases: [&[&str]; 4] = [
        &["--", &hs],                                  // HS public export
        &["--format", "pem", "--", &hs],               // HS public PEM
        &["--private", "--format", "pem", "--", &hs],  // HS has no PEM form
        &["--private", "--format", "jwk", "--", &rsa], // RSA private JWK
    ];
    for case in cases {
        let mut args = vec!["--json", "keys", "export"];
        args.extend_from_slice(case);
        let out = ring.run(&args).code(2);
        assert_eq!(out.kind(), "usage", "{case:?}");
        assert!(!out.all().contains("\"k\""), "{out:?}");
    }
    let unknown = ring.run(&["--json", "keys", "export", "nope"]).code(2);
    assert_eq!(unknown.kind(), "usage");
    let bad_format = ring.run(&["keys", "export", "--format", "der", "--", &rsa]);
    bad_format.code(2);
}

#[test]
fn imported_keys_have_no_private_part() {
    let issuer = Ring::new();
    let kid = issuer.generate("EdDSA");
    let ring = Ring::new();
    let file = ring.write("k.jwk", issuer.export(&kid, &[]));
    ring.at(now(), &["keys", "import", &file]).ok();
    let out = ring
        .run(&["--json", "keys", "export", "--private", "--", &kid])
        .code(2);
    assert_eq!(out.kind(), "usage");
    ring.export(&kid, &["--format", "pem"]);
}
