//! Key files through the library (`KeySet::from_file`, `from_secret_file`): every accepted form
//! of the RFC 7515 Appendix A keys, and every refusal (issue 10: a key file is never guessed to
//! be an HMAC secret).

mod common;

use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tollgate::{Algorithm, Clock, ErrorKind, Family, KeySet, MintOptions, VerifyOptions};

use common::{TempKeyring, now};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rfc7515")
        .join(name)
}

fn rfc_token(name: &str) -> String {
    let text = std::fs::read_to_string(fixture("tokens.json")).unwrap();
    let tokens: Value = serde_json::from_str(&text).unwrap();
    tokens[name].as_str().unwrap().to_string()
}

/// The one key of a set read from a fixture.
fn only_key(set: &KeySet) -> &tollgate::keys::VerifyingKey {
    let keys: Vec<_> = set.iter().collect();
    assert_eq!(keys.len(), 1, "{set:?}");
    keys[0]
}

/// Checks the RFC's own example signature with the public key tollgate read, so the key is
/// the RFC's key and not merely some key of the right type.
fn verifies_rfc_signature(
    set: &KeySet,
    token: &str,
    alg: &'static dyn signature::VerificationAlgorithm,
) {
    let public = only_key(set).public_key().expect("a public key");
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let spki = public.spki_der();
    // aws-lc-rs takes an SPKI for EC and a PKCS#1 or SPKI for RSA.
    UnparsedPublicKey::new(alg, spki)
        .verify(input.as_bytes(), &sig)
        .expect("the RFC signature verifies with the key tollgate read");
}

const A2_FORMS: [&str; 13] = [
    "a2-rs256.pub.jwk",
    "a2-rs256.pub.bom.jwk",
    "a2-rs256.pub.jwks.json",
    "a2-rs256.pub.bom.jwks.json",
    "a2-rs256.pub.pem",
    "a2-rs256.pub.der",
    "a2-rs256.pub.bom.pem",
    "a2-rs256.pub.text.pem",
    "a2-rs256.cert.pem",
    "a2-rs256.cert.der",
    "a2-rs256.key.pem",
    "a2-rs256.key.der",
    "a2-rs256.jwk",
];

#[test]
fn rfc7515_a2_rsa_key_reads_in_every_file_form() {
    let token = rfc_token("a2");
    for name in A2_FORMS {
        let set = KeySet::from_file(&fixture(name), &[])
            .unwrap_or_else(|e| panic!("{name}: {}", e.message()));
        let key = only_key(&set);
        assert_eq!(key.public_key().unwrap().family(), Family::Rsa, "{name}");
        assert_eq!(
            key.algorithms(),
            Algorithm::of_family(Family::Rsa).collect::<Vec<_>>(),
            "{name}"
        );
        verifies_rfc_signature(&set, &token, &signature::RSA_PKCS1_2048_8192_SHA256);
    }
}

#[test]
fn rfc7515_a3_p256_key_reads_in_every_file_form() {
    let token = rfc_token("a3");
    for name in A2_FORMS.map(|n| n.replace("a2-rs256", "a3-es256")) {
        let set = KeySet::from_file(&fixture(&name), &[])
            .unwrap_or_else(|e| panic!("{name}: {}", e.message()));
        let key = only_key(&set);
        let public = key.public_key().unwrap();
        assert_eq!(public.family(), Family::Ec, "{name}");
        assert_eq!(public.curve(), Some(tollgate::keys::Curve::P256), "{name}");
        assert_eq!(key.algorithms(), &[Algorithm::ES256], "{name}");
        verifies_rfc_signature(&set, &token, &signature::ECDSA_P256_SHA256_FIXED);
    }
}

#[test]
fn rfc7515_a1_oct_jwk_is_a_declared_hmac_secret() {
    let set = KeySet::from_file(&fixture("a1-hs256.jwk"), &[]).unwrap();
    let key = only_key(&set);
    assert!(key.public_key().is_none());
    assert_eq!(
        key.algorithms(),
        &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
    );
}

#[test]
fn rfc7515_a1_raw_secret_is_read_only_as_a_secret() {
    let set = KeySet::from_secret_file(&fixture("a1-hs256.secret"), &[]).unwrap();
    assert!(only_key(&set).public_key().is_none());
    let e = KeySet::from_file(&fixture("a1-hs256.secret"), &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadKey);
    assert!(e.message().contains("a1-hs256.secret"), "{}", e.message());
    assert!(e.message().contains("--secret"), "{}", e.message());
}

#[test]
fn rfc7515_a1_oct_jwk_in_a_set_refuses_the_whole_set() {
    let e = KeySet::from_file(&fixture("a1-hs256.jwks.json"), &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadKey);
    assert!(e.message().contains("\"k\""), "{}", e.message());
    assert!(e.message().contains("leaked"), "{}", e.message());
}

#[test]
fn rfc7515_a4_p521_key_is_refused_alone_and_skipped_in_a_set() {
    for name in [
        "a4-es512.pub.jwk",
        "a4-es512.pub.pem",
        "a4-es512.pub.der",
        "a4-es512.pub.bom.pem",
        "a4-es512.pub.text.pem",
        "a4-es512.key.pem",
        "a4-es512.key.der",
        "a4-es512.pub.jwks.json",
    ] {
        let e = KeySet::from_file(&fixture(name), &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadKey, "{name}");
        assert!(e.message().contains("P-521"), "{name}: {}", e.message());
        assert!(e.message().contains(name), "{name}: {}", e.message());
    }
    let set = KeySet::from_file(&fixture("all.pub.jwks.json"), &[]).unwrap();
    assert_eq!(set.iter().count(), 2);
    assert_eq!(set.skipped(), 1);
    let reason = set.skip_reasons().next().unwrap();
    assert!(
        reason.contains("member 2") && reason.contains("P-521"),
        "{reason}"
    );
}

#[test]
fn a_private_member_anywhere_in_a_set_refuses_the_whole_set() {
    let private: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("a2-rs256.jwk")).unwrap()).unwrap();
    let public: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("a3-es256.pub.jwk")).unwrap())
            .unwrap();
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        let mut leaked = json!({"kty": "RSA", "n": private["n"], "e": private["e"]});
        leaked[member] = private[member].clone();
        let set = json!({"keys": [public, leaked]}).to_string();
        let e = KeySet::from_bytes(set.as_bytes(), &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadKey, "{member}");
        assert!(
            e.message().contains(&format!("\"{member}\"")),
            "{member}: {}",
            e.message()
        );
        assert!(
            !e.message().contains(private[member].as_str().unwrap()),
            "no key material in messages"
        );
    }
    // Even a member that would be skipped for another reason.
    let set = json!({"keys": [public, {"kty": "EC", "crv": "P-521", "d": "AQ"}]}).to_string();
    assert_eq!(
        KeySet::from_bytes(set.as_bytes(), &[]).unwrap_err().kind(),
        ErrorKind::BadKey
    );
}

#[test]
fn unusable_set_members_are_skipped_and_counted_and_an_empty_result_is_refused() {
    let ed: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("a3-es256.pub.jwk")).unwrap())
            .unwrap();
    let mut enc = ed.clone();
    enc["use"] = json!("enc");
    let mut wrap_only = ed.clone();
    wrap_only["key_ops"] = json!(["wrapKey"]);
    let set = json!({"keys": [
        ed,
        enc,
        wrap_only,
        {"kty": "OKP", "crv": "X25519", "x": "AQ"},
        {"kty": "unknown"},
        "not an object",
    ]})
    .to_string();
    let keys = KeySet::from_bytes(set.as_bytes(), &[]).unwrap();
    assert_eq!(keys.iter().count(), 1);
    assert_eq!(keys.skipped(), 5);
    let reasons: Vec<&str> = keys.skip_reasons().collect();
    assert!(reasons[0].contains("\"enc\""), "{reasons:?}");
    assert!(reasons[1].contains("key_ops"), "{reasons:?}");

    let none = json!({"keys": [{"kty": "EC", "crv": "P-521", "x": "AQ", "y": "AQ"}]}).to_string();
    let e = KeySet::from_bytes(none.as_bytes(), &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadKey);
    assert!(e.message().contains("no usable key"), "{}", e.message());
}

#[test]
fn jwk_use_key_ops_and_alg_restrict_a_single_key() {
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("a2-rs256.pub.jwk")).unwrap())
            .unwrap();
    let with = |member: &str, value: Value| {
        let mut jwk = base.clone();
        jwk[member] = value;
        jwk.to_string()
    };
    for refused in [
        with("use", json!("enc")),
        with("key_ops", json!(["sign"])),
        with("key_ops", json!(["encrypt", "verify-ish"])),
        with("alg", json!("ES256")),
        with("alg", json!("RSA-OAEP")),
    ] {
        let e = KeySet::from_bytes(refused.as_bytes(), &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadKey, "{refused}");
    }
    let ps256 = KeySet::from_bytes(with("alg", json!("PS256")).as_bytes(), &[]).unwrap();
    assert_eq!(only_key(&ps256).algorithms(), &[Algorithm::PS256]);
    let sig = KeySet::from_bytes(with("use", json!("sig")).as_bytes(), &[]).unwrap();
    assert_eq!(only_key(&sig).algorithms().len(), 6);
    let verify = KeySet::from_bytes(with("key_ops", json!(["verify"])).as_bytes(), &[]).unwrap();
    assert_eq!(only_key(&verify).algorithms().len(), 6);
}

#[test]
fn pem_with_several_key_blocks_or_another_label_is_refused() {
    let pem = std::fs::read_to_string(fixture("a2-rs256.pub.pem")).unwrap();
    let cert = std::fs::read_to_string(fixture("a3-es256.cert.pem")).unwrap();
    let two = format!("{pem}\n{cert}");
    let e = KeySet::from_bytes(two.as_bytes(), &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadKey);
    assert!(
        e.message().contains("2 key-bearing PEM blocks"),
        "{}",
        e.message()
    );
    let pkcs1 = pem.replace("PUBLIC KEY", "RSA PUBLIC KEY");
    let e = KeySet::from_bytes(pkcs1.as_bytes(), &[]).unwrap_err();
    assert!(e.message().contains("RSA PUBLIC KEY"), "{}", e.message());
    let unfinished = "text\n-----BEGIN PUBLIC KEY-----\nMIIB\n";
    assert_eq!(
        KeySet::from_bytes(unfinished.as_bytes(), &[])
            .unwrap_err()
            .kind(),
        ErrorKind::BadKey
    );
}

#[test]
fn anything_else_is_bad_key_naming_the_file_and_the_accepted_forms() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty", &b""[..]),
        ("text", b"just some text\n"),
        ("random", &[0x8a, 0x11, 0x42, 0xfe, 0x00, 0x7f, 0x13, 0x99]),
        ("secret", &[0x61; 48]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let e = KeySet::from_file(&path, &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadKey, "{name}");
        assert!(
            e.message().contains(&path.display().to_string()),
            "{}",
            e.message()
        );
        assert!(e.message().contains("JWK Set"), "{}", e.message());
    }
}

#[test]
fn a_key_file_is_never_taken_as_a_secret() {
    for name in [
        "a2-rs256.pub.pem",
        "a2-rs256.pub.der",
        "a2-rs256.pub.bom.pem",
        "a2-rs256.pub.text.pem",
        "a2-rs256.pub.jwk",
        "a2-rs256.pub.jwks.json",
        "a3-es256.cert.der",
        "a1-hs256.jwk",
    ] {
        let e = KeySet::from_secret_file(&fixture(name), &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadKey, "{name}");
        assert!(e.message().contains("--key"), "{name}: {}", e.message());
    }
}

#[test]
fn a_kid_two_keys_carry_picks_neither_and_the_rest_stays_usable() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let clock = Clock::fixed(now());
    let token = tollgate::mint(&ring.keyring, &MintOptions::new("alice"), &clock)
        .unwrap()
        .token;
    let genuine = serde_json::to_value(&ring.keyring.jwks().keys[0]).unwrap();
    // An attacker's key under the same kid, and an unrelated key.
    let other = TempKeyring::with_key(Algorithm::EdDSA);
    let mut impostor = serde_json::to_value(&other.keyring.jwks().keys[0]).unwrap();
    impostor["kid"] = genuine["kid"].clone();
    let unrelated = serde_json::to_value(&other.keyring.jwks().keys[0]).unwrap();

    let alone = json!({"keys": [genuine, unrelated]}).to_string();
    let keys = KeySet::from_bytes(alone.as_bytes(), &[]).unwrap();
    tollgate::verify::<Value>(&token, &keys, &VerifyOptions::new(), &clock).unwrap();

    for order in [
        json!({"keys": [genuine, impostor, unrelated]}),
        json!({"keys": [impostor, genuine, unrelated]}),
    ] {
        let keys = KeySet::from_bytes(order.to_string().as_bytes(), &[]).unwrap();
        let kid = genuine["kid"].as_str().unwrap();
        assert!(keys.is_ambiguous(kid) && keys.get(kid).is_none());
        assert!(keys.get(unrelated["kid"].as_str().unwrap()).is_some());
        let e =
            tollgate::verify::<Value>(&token, &keys, &VerifyOptions::new(), &clock).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownKid);
    }
    // Two files with one kid each collide the same way.
    let mut keys = KeySet::from_bytes(genuine.to_string().as_bytes(), &[]).unwrap();
    keys.extend(KeySet::from_bytes(impostor.to_string().as_bytes(), &[]).unwrap());
    let e = tollgate::verify::<Value>(&token, &keys, &VerifyOptions::new(), &clock).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownKid);
}
