//! Mint and verify across algorithms, time, audience and issuer, and hostile tokens: every
//! rejection has the right kind and nothing panics.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate::{
    Algorithm, Clock, ErrorKind, ExportFormat, KeySet, Keyring, MintOptions, VerifyOptions, mint,
    verify,
};

use common::{TempKeyring, now};

fn verify_kind(token: &str, keys: &KeySet, options: &VerifyOptions) -> Result<(), Vec<ErrorKind>> {
    verify::<Value>(token, keys, options, &Clock::fixed(now()))
        .map(|_| ())
        .map_err(|e| e.all().map(|e| e.kind()).collect())
}

fn first_kind(token: &str, keyring: &Keyring) -> ErrorKind {
    verify_kind(token, keyring.key_set(), &VerifyOptions::new()).unwrap_err()[0]
}

/// Signs an arbitrary header and payload with a keyring key, for hand-made tokens.
fn sign_raw(keyring: &Keyring, kid: &str, header: &Value, payload: &[u8]) -> String {
    let alg = keyring.entry(kid).unwrap().alg;
    let private = keyring.export(kid, true, None).unwrap();
    let key = match alg {
        Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(private.as_bytes()).unwrap(),
        Algorithm::ES256 | Algorithm::ES384 => {
            jsonwebtoken::EncodingKey::from_ec_pem(private.as_bytes()).unwrap()
        }
        a if a.is_symmetric() => {
            let jwk: Value = serde_json::from_str(&private).unwrap();
            let k = URL_SAFE_NO_PAD.decode(jwk["k"].as_str().unwrap()).unwrap();
            jsonwebtoken::EncodingKey::from_secret(&k).unwrap()
        }
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let jwt_alg: jsonwebtoken::Algorithm = alg.as_str().parse().unwrap();
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, jwt_alg).unwrap();
    format!("{message}.{sig}")
}

fn good_claims() -> Value {
    json!({"sub": "alice", "jti": "j-1", "iat": now(), "nbf": now(), "exp": now() + 600})
}

fn header(alg: &str, kid: &str) -> Value {
    json!({"alg": alg, "kid": kid, "typ": "at+jwt"})
}

#[test]
fn every_algorithm_mints_and_verifies() {
    for alg in [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ] {
        let ring = TempKeyring::with_key(alg);
        let minted = mint(
            &ring.keyring,
            &MintOptions::new("alice"),
            &Clock::fixed(now()),
        )
        .unwrap();
        let verified = verify::<Value>(
            &minted.token,
            ring.keyring.key_set(),
            &VerifyOptions::new(),
            &Clock::fixed(now()),
        )
        .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.header.alg, alg);
        assert_eq!(verified.header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(verified.claims.sub.as_deref(), Some("alice"));
        assert!(uuid::Uuid::parse_str(verified.claims.jti.as_deref().unwrap()).is_ok());
        assert!(verified.claims.sid.is_some());
    }
}

#[test]
fn time_audience_and_issuer_are_checked_against_the_injected_clock() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let options = MintOptions::new("alice")
        .with_audience("api")
        .with_issuer("https://auth.example")
        .with_ttl(std::time::Duration::from_secs(60));
    let token = mint(&ring.keyring, &options, &Clock::fixed(now()))
        .unwrap()
        .token;
    let keys = ring.keyring.key_set();
    let strict = VerifyOptions::new()
        .with_audience("api")
        .with_issuer("https://auth.example");
    assert!(verify_kind(&token, keys, &strict).is_ok());
    let at =
        |t: i64| verify::<Value>(&token, keys, &strict, &Clock::fixed(t)).map_err(|e| e.kind());
    // Expired iff now >= exp + leeway (issue 8 pinned the boundary second: expired).
    assert!(at(now() + 60 + 29).is_ok(), "leeway keeps it valid");
    assert_eq!(at(now() + 60 + 30).unwrap_err(), ErrorKind::Expired);
    assert_eq!(at(now() - 31).unwrap_err(), ErrorKind::NotYetValid);
    assert_eq!(
        verify_kind(
            &token,
            keys,
            &VerifyOptions::new()
                .with_audience("other")
                .with_issuer("https://auth.example")
        ),
        Err(vec![ErrorKind::BadAudience])
    );
    assert_eq!(
        verify_kind(
            &token,
            keys,
            &VerifyOptions::new()
                .with_audience("api")
                .with_issuer("evil")
        ),
        Err(vec![ErrorKind::BadIssuer])
    );
    // A token meant for an audience is refused by a verifier that names none.
    assert_eq!(
        verify_kind(
            &token,
            keys,
            &VerifyOptions::new().with_issuer("https://auth.example")
        ),
        Err(vec![ErrorKind::BadAudience])
    );
}

#[test]
fn configured_audience_requires_an_aud_claim() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let token = mint(
        &ring.keyring,
        &MintOptions::new("alice"),
        &Clock::fixed(now()),
    )
    .unwrap()
    .token;
    let err = verify::<Value>(
        &token,
        ring.keyring.key_set(),
        &VerifyOptions::new().with_audience("api"),
        &Clock::fixed(now()),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingClaim);
}

#[test]
fn alg_none_in_any_casing_is_disallowed() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let kid = ring.kid();
    for none in ["none", "None", "NONE", "nOnE"] {
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header(none, &kid)).unwrap());
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good_claims()).unwrap());
        assert_eq!(
            first_kind(&format!("{h}.{p}.c2ln"), &ring.keyring),
            ErrorKind::DisallowedAlg,
            "{none}"
        );
        // The unsigned form (empty signature) never gets as far as the algorithm.
        assert_eq!(
            first_kind(&format!("{h}.{p}."), &ring.keyring),
            ErrorKind::Malformed
        );
    }
}

#[test]
fn algorithm_confusion_with_the_public_key_as_hmac_secret_is_disallowed() {
    let ring = TempKeyring::with_key(Algorithm::RS256);
    let kid = ring.kid();
    let public_pem = ring
        .keyring
        .export(&kid, false, Some(ExportFormat::Pem))
        .unwrap();
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header("HS256", &kid)).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good_claims()).unwrap())
    );
    let key = jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()).unwrap();
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
        .unwrap();
    let token = format!("{message}.{sig}");
    assert_eq!(first_kind(&token, &ring.keyring), ErrorKind::DisallowedAlg);
    // Also when the verifier is given the public key file explicitly.
    let keys = KeySet::from_bytes(public_pem.as_bytes(), &[]).unwrap();
    assert_eq!(
        verify_kind(&token, &keys, &VerifyOptions::new()).unwrap_err()[0],
        ErrorKind::DisallowedAlg
    );
}

#[test]
fn header_borne_keys_are_never_trusted() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let attacker = TempKeyring::with_key(Algorithm::EdDSA);
    let kid = ring.kid();
    let attacker_kid = attacker.kid();
    let attacker_jwk: Value =
        serde_json::from_str(&attacker.keyring.export(&attacker_kid, false, None).unwrap())
            .unwrap();
    let payload = serde_json::to_vec(&good_claims()).unwrap();
    for (name, value) in [
        ("jwk", attacker_jwk.clone()),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
    ] {
        // Our kid, the attacker's key in the header, the attacker's signature.
        let mut h = header("EdDSA", &kid);
        h[name] = value.clone();
        let token = sign_raw(&attacker.keyring, &attacker_kid, &h, &payload);
        assert_eq!(
            first_kind(&token, &ring.keyring),
            ErrorKind::BadSignature,
            "{name}"
        );
        // No kid at all: the header key is not a fallback.
        let mut h = json!({"alg": "EdDSA", "typ": "at+jwt"});
        h[name] = value;
        let token = sign_raw(&attacker.keyring, &attacker_kid, &h, &payload);
        assert_eq!(
            first_kind(&token, &ring.keyring),
            ErrorKind::UnknownKid,
            "{name}"
        );
    }
}

#[test]
fn unknown_crit_is_rejected_even_when_signed() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let kid = ring.kid();
    let mut h = header("EdDSA", &kid);
    h["crit"] = json!(["exp-ext"]);
    h["exp-ext"] = json!(true);
    let token = sign_raw(
        &ring.keyring,
        &kid,
        &h,
        &serde_json::to_vec(&good_claims()).unwrap(),
    );
    assert_eq!(first_kind(&token, &ring.keyring), ErrorKind::Malformed);
}

#[test]
fn hostile_kids_are_unknown_and_never_touch_the_filesystem() {
    let ring = TempKeyring::with_key(Algorithm::HS256);
    let kid = ring.kid();
    for bad in [
        "../../etc/passwd",
        "/etc/shadow",
        "keyring.json",
        "..",
        "",
        "\u{0}",
        &"k".repeat(5000),
    ] {
        let token = sign_raw(
            &ring.keyring,
            &kid,
            &header("HS256", bad),
            &serde_json::to_vec(&good_claims()).unwrap(),
        );
        let err = verify::<Value>(
            &token,
            ring.keyring.key_set(),
            &VerifyOptions::new(),
            &Clock::fixed(now()),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownKid, "{bad:?}");
        assert!(
            err.message().len() < 300,
            "the message does not echo a huge kid"
        );
    }
}

#[test]
fn claim_strictness() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let kid = ring.kid();
    let h = header("EdDSA", &kid);
    let signed = |payload: &str| sign_raw(&ring.keyring, &kid, &h, payload.as_bytes());
    let kinds = |payload: &str| {
        verify_kind(
            &signed(payload),
            ring.keyring.key_set(),
            &VerifyOptions::new(),
        )
        .unwrap_err()
    };
    let base = format!(r#""sub":"a","jti":"j","iat":{}"#, now());
    assert_eq!(
        kinds(&format!(r#"{{{base},"exp":"{}"}}"#, now() + 60)),
        [ErrorKind::Malformed, ErrorKind::MissingClaim]
    );
    assert_eq!(kinds(&format!(r#"{{{base}}}"#)), [ErrorKind::MissingClaim]);
    assert_eq!(
        kinds(&format!(
            r#"{{{base},"exp":{},"exp":{}}}"#,
            now() + 60,
            now() + 9999
        )),
        [ErrorKind::Malformed]
    );
    assert_eq!(
        kinds(&format!(
            r#"{{"sub":"a","jti":"j","iat":{},"exp":{}}}"#,
            now() + 3600,
            now() + 7200
        )),
        [ErrorKind::IssuedInFuture]
    );
    assert_eq!(kinds("[1,2,3]"), [ErrorKind::Malformed]);
    assert_eq!(kinds("not json"), [ErrorKind::Malformed]);
    // A token typed as something else (a refresh token, a plain JWT) is the wrong type.
    for typ in [json!("rt+jwt"), json!("JWT"), Value::Null] {
        let mut h = h.clone();
        if typ.is_null() {
            h.as_object_mut().unwrap().remove("typ");
        } else {
            h["typ"] = typ;
        }
        let token = sign_raw(
            &ring.keyring,
            &kid,
            &h,
            format!(r#"{{{base},"exp":{}}}"#, now() + 60).as_bytes(),
        );
        assert_eq!(first_kind(&token, &ring.keyring), ErrorKind::WrongTokenType);
    }
}

#[test]
fn structural_limits() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let token = mint(
        &ring.keyring,
        &MintOptions::new("alice"),
        &Clock::fixed(now()),
    )
    .unwrap()
    .token;
    for bad in [
        String::new(),
        "a.b".into(),
        "a.b.c.d".into(),
        format!("{token}="),
        format!("{token}.x"),
        token.replacen('.', "=.", 1),
        "x".repeat(16 * 1024 + 1),
        format!("{}.{}", token, "a".repeat(17 * 1024)),
    ] {
        assert_eq!(
            first_kind(&bad, &ring.keyring),
            ErrorKind::Malformed,
            "{bad:.40}"
        );
    }
}

#[test]
fn retired_key_is_reported_as_retired() {
    let mut ring = TempKeyring::with_key(Algorithm::EdDSA);
    let clock = Clock::fixed(now());
    let token = mint(&ring.keyring, &MintOptions::new("alice"), &clock)
        .unwrap()
        .token;
    let old = ring.kid();
    ring.keyring.rotate(None, false, &clock).unwrap();
    assert!(
        verify_kind(&token, ring.keyring.key_set(), &VerifyOptions::new()).is_ok(),
        "verify keys still verify"
    );
    ring.keyring.retire(&old, &clock).unwrap();
    assert_eq!(first_kind(&token, &ring.keyring), ErrorKind::RetiredKid);
}

#[test]
fn spec_example_rfc7515_a1_verifies_under_the_rfc7519_profile() {
    // RFC 7515 Appendix A.1: an HS256 JWS with typ JWT, iss and exp only. Another issuer's
    // token (its key given explicitly): the generic profile accepts it at the RFC's time
    // (issue 10; it was refused before, as tollgate's own tokens are: typ JWT, no sub/jti/iat).
    let jwk = r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;
    let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let keys = KeySet::from_bytes(jwk.as_bytes(), &[]).unwrap();
    let then = Clock::fixed(1_300_819_000);
    let verified = verify::<serde_json::Value>(token, &keys, &VerifyOptions::new(), &then).unwrap();
    assert_eq!(verified.claims.iss.as_deref(), Some("joe"));
    assert_eq!(verified.claims.exp, 1_300_819_380);
    assert_eq!(verified.claims.extra["http://example.com/is_root"], true);
    assert_eq!((verified.claims.sub, verified.claims.jti), (None, None));
    // Now it has long expired; an explicit issuer and required claims tighten the profile.
    let kinds = verify_kind(token, &keys, &VerifyOptions::new()).unwrap_err();
    assert_eq!(kinds, [ErrorKind::Expired]);
    let strict = VerifyOptions::new()
        .with_issuer("jane")
        .with_required_claim("sub");
    let err = verify::<serde_json::Value>(token, &keys, &strict, &then).unwrap_err();
    let mut kinds: Vec<ErrorKind> = err.all().map(tollgate::Error::kind).collect();
    kinds.sort_by_key(|k| k.as_str());
    assert_eq!(kinds, [ErrorKind::BadIssuer, ErrorKind::MissingClaim]);
    // One changed bit of the key and the signature no longer verifies.
    let other = jwk.replace("AyM1", "AyM2");
    let keys = KeySet::from_bytes(other.as_bytes(), &[]).unwrap();
    assert_eq!(
        verify_kind(token, &keys, &VerifyOptions::new()).unwrap_err(),
        [ErrorKind::BadSignature]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn flipping_any_byte_of_a_token_makes_verify_fail(index in any::<prop::sample::Index>(), replacement in any::<u8>()) {
        let (token, ring) = common::shared_token();
        let mut bytes = token.as_bytes().to_vec();
        let i = index.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let tampered = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(verify::<Value>(&tampered, ring.key_set(), &VerifyOptions::new(), &Clock::fixed(now())).is_err());
    }

    #[test]
    fn flipping_any_bit_of_the_signature_makes_verify_fail(bit in 0usize..512) {
        let (token, ring) = common::shared_token();
        let (message, sig) = token.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        raw[bit / 8] ^= 1 << (bit % 8);
        let tampered = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&raw));
        let err = verify::<Value>(&tampered, ring.key_set(), &VerifyOptions::new(), &Clock::fixed(now())).unwrap_err();
        prop_assert_eq!(err.kind(), ErrorKind::BadSignature);
    }

    #[test]
    fn arbitrary_input_never_panics(input in ".{0,400}") {
        let (_, ring) = common::shared_token();
        let _ = verify::<Value>(&input, ring.key_set(), &VerifyOptions::new(), &Clock::fixed(now()));
        let _ = tollgate::dangerous::decode_unverified(&input);
    }

    #[test]
    fn arbitrary_segments_never_panic(h in "[A-Za-z0-9_-]{0,80}", p in "[A-Za-z0-9_-]{0,80}", s in "[A-Za-z0-9_-]{0,90}") {
        let (_, ring) = common::shared_token();
        let token = format!("{h}.{p}.{s}");
        prop_assert!(verify::<Value>(&token, ring.key_set(), &VerifyOptions::new(), &Clock::fixed(now())).is_err());
    }
}
