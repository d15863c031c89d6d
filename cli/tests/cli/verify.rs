//! `tollgate verify`.

use std::process::Stdio;

use serde_json::{Value, json};

use crate::common::{
    Ring, b64, bin, claims, ed25519_token, flip_signature, hmac_token, hmac_token_raw, now, run,
    segment, tollgate,
};

fn ring() -> Ring {
    let ring = Ring::new();
    ring.generate("EdDSA");
    ring
}

/// A keyring whose active key is HS256, and its secret and kid, for hand-built tokens.
fn hmac_ring() -> (Ring, String, Vec<u8>) {
    let ring = Ring::new();
    let kid = ring.generate("HS256");
    let secret = ring.hmac_secret(&kid);
    (ring, kid, secret)
}

fn header(kid: &str) -> Value {
    json!({"alg": "HS256", "kid": kid, "typ": "at+jwt"})
}

#[test]
fn success_json_shape() {
    let ring = ring();
    let token = ring.mint(&["--claim", "role=admin"]);
    let v = ring.verify(&token, &[]).ok().json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["header"], segment(&token, 0));
    assert_eq!(v["claims"], segment(&token, 1));
    assert_eq!(v["claims"]["role"], "admin");
    assert_eq!(v["key_state"], "active");
    assert!(v.get("error").is_none());
}

#[test]
fn success_human_output() {
    let ring = ring();
    let token = ring.mint(&[]);
    let out = ring.at(now(), &["verify", &token]).ok();
    let claims: Value = serde_json::from_str(&out.stdout).expect("claims on stdout");
    assert_eq!(claims["sub"], "alice");
    assert!(out.stderr.contains("valid"), "{}", out.stderr);
}

#[test]
fn token_from_argument_stdin_and_file() {
    let ring = ring();
    let token = ring.mint(&[]);
    ring.verify(&token, &[]).ok();
    // `-` reads stdin, as in `tollgate mint | tollgate verify -`.
    let piped = ring.mint(&[]) + "\n";
    let out = ring.stdin(now(), &["--json", "verify", "-"], &piped).ok();
    assert_eq!(out.json()["valid"], true);
    // No argument reads stdin too.
    ring.stdin(now(), &["verify"], &piped).ok();
    // @FILE.
    let file = ring.write("token.jwt", format!("{token}\n"));
    let out = ring
        .at(now(), &["--json", "verify", &format!("@{file}")])
        .ok();
    assert_eq!(out.json()["claims"]["jti"], segment(&token, 1)["jti"]);
}

#[test]
fn mint_piped_into_verify() {
    let ring = ring();
    let now = now().to_string();
    let mut mint = std::process::Command::new(bin())
        .args(["--keys", ring.dir.to_str().unwrap(), "--now", now.as_str()])
        .args(["mint", "--sub", "alice"])
        .env_remove("TOLLGATE_KEYS")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let verify = std::process::Command::new(bin())
        .args(["--keys", ring.dir.to_str().unwrap(), "--now", now.as_str()])
        .args(["--json", "verify", "-"])
        .env_remove("TOLLGATE_KEYS")
        .stdin(mint.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(mint.wait().unwrap().success());
    assert!(verify.status.success());
    let v: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(v["valid"], true);
}

#[test]
fn missing_token_input_is_usage() {
    let ring = ring();
    let out = ring
        .stdin(now(), &["--json", "verify", "-"], "  \n")
        .code(2);
    assert_eq!(out.kind(), "usage");
    let missing = ring.path("nope.jwt");
    let out = ring
        .at(
            now(),
            &[
                "--json",
                "verify",
                &format!("@{}", missing.to_str().unwrap()),
            ],
        )
        .code(2);
    assert_eq!(out.kind(), "usage");
}

#[test]
fn rejection_json_shape() {
    let ring = ring();
    let token = ring.mint(&[]);
    let out = ring.verify_at(now() + 3600, &token, &[]).code(1);
    let v = out.json();
    assert_eq!(v["valid"], false);
    let error = v["error"].as_object().expect("error object");
    assert_eq!(error["kind"], "expired");
    assert!(!error["message"].as_str().unwrap().is_empty());
    assert_eq!(error["exp"], now() + 900);
    assert_eq!(error["now"], now() + 3600);
    assert!(v.get("errors").is_none(), "one failure, no errors array");
    assert!(out.stderr.contains("tollgate:"), "reason on stderr too");
}

#[test]
fn human_rejection_has_empty_stdout() {
    let ring = ring();
    let token = ring.mint(&[]);
    let out = ring.at(now() + 3600, &["verify", &token]).code(1);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
}

#[test]
fn multiple_failures_report_all_first_is_error() {
    let ring = ring();
    let token = ring.mint(&["--aud", "api", "--iss", "me"]);
    // Before nbf and iat, wrong audience and issuer.
    let v = ring
        .verify_at(now() - 3600, &token, &["--aud", "web", "--iss", "you"])
        .code(1)
        .json();
    let errors = v["errors"].as_array().expect("errors array");
    assert_eq!(errors[0], v["error"], "the first is `error`");
    let kinds: Vec<&str> = errors.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "not_yet_valid",
            "issued_in_future",
            "bad_issuer",
            "bad_audience"
        ]
    );
    for e in errors {
        assert!(e["message"].is_string());
    }
}

#[test]
fn malformed_tokens() {
    let ring = ring();
    let token = ring.mint(&[]);
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    // mint refuses to make such a token (see below), so build one by hand.
    let big = format!("{h}.{}.{s}", "eyJh".repeat(4500));
    assert!(big.len() > 16 * 1024);
    let blob = json!({"blob": "x".repeat(17_000)}).to_string();
    ring.run(&["mint", "--sub", "alice", "--claims", &blob])
        .code(2);
    let cases = [
        "garbage".to_string(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}."),
        format!("{h}=.{p}.{s}"),
        format!("{h}+/.{p}.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}.{s}!"),
        format!(".{p}.{s}"),
        format!("{h}..{s}"),
        big,
        "a".repeat(16 * 1024 + 1),
    ];
    for case in &cases {
        let out = ring.verify(case, &[]).code(1);
        let v = out.json();
        assert_eq!(v["valid"], false);
        assert_eq!(v["error"]["kind"], "malformed", "{case:.80}");
    }
}

#[test]
fn signed_payload_that_is_not_strict_base64url_is_malformed() {
    let (ring, kid, secret) = hmac_ring();
    let h = b64(header(&kid).to_string().as_bytes());
    let p = b64(claims().to_string().as_bytes());
    for payload in [format!("{p}="), format!("{p}+/"), format!("{p}!")] {
        let input = format!("{h}.{payload}");
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", b64(tag.as_ref()));
        assert_eq!(
            ring.verify(&token, &[]).code(1).kind(),
            "malformed",
            "{payload:.8}"
        );
    }
}

#[test]
fn unsigned_payload_that_is_not_strict_base64url_is_malformed() {
    let ring = ring();
    let token = ring.mint(&[]);
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    for case in [
        format!("{h}.{p}=.{s}"),
        format!("{h}.{p}+/.{s}"),
        format!("{h}.{p}!.{s}"),
    ] {
        // inspect, which decodes without verifying, already says malformed.
        let inspected = ring.at(now(), &["--json", "inspect", &case]).code(1);
        assert_eq!(inspected.kind(), "malformed");
        assert_eq!(ring.verify(&case, &[]).code(1).kind(), "malformed");
    }
}

#[test]
fn oversized_token_from_stdin() {
    let ring = ring();
    let out = ring
        .stdin(now(), &["--json", "verify", "-"], &"a".repeat(20_000))
        .code(1);
    assert_eq!(out.kind(), "malformed");
}

#[test]
fn bad_signature() {
    let ring = ring();
    let token = ring.mint(&[]);
    let out = ring.verify(&flip_signature(&token), &[]).code(1);
    assert_eq!(out.kind(), "bad_signature");
    // A payload swapped from another token of the same key.
    let other = ring.mint(&["--claim", "role=admin"]);
    let (h, rest) = token.split_once('.').unwrap();
    let s = rest.split_once('.').unwrap().1;
    let p = other.split('.').nth(1).unwrap();
    let out = ring.verify(&format!("{h}.{p}.{s}"), &[]).code(1);
    assert_eq!(out.kind(), "bad_signature");
}

#[test]
fn disallowed_alg() {
    let (ring, kid, secret) = hmac_ring();
    // alg none is never accepted.
    let none = format!(
        "{}.{}.c2ln",
        b64(json!({"alg":"none","kid":kid,"typ":"at+jwt"})
            .to_string()
            .as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    assert_eq!(ring.verify(&none, &[]).code(1).kind(), "disallowed_alg");
    // An algorithm the key does not allow (HS512 over an HS256 key).
    let token = hmac_token(
        "HS512",
        &secret,
        &json!({"alg": "HS512", "kid": kid, "typ": "at+jwt"}),
        &claims(),
    );
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "disallowed_alg");
    // Algorithm confusion: HMAC with an EdDSA key's public JWK as the secret.
    let ed = ring.generate("EdDSA");
    let public = ring.export(&ed, &[]);
    let token = hmac_token(
        "HS256",
        public.as_bytes(),
        &json!({"alg": "HS256", "kid": ed, "typ": "at+jwt"}),
        &claims(),
    );
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "disallowed_alg");
    // An unknown algorithm name.
    let token = hmac_token_raw(
        "HS256",
        &secret,
        &json!({"alg": "HS999", "kid": kid, "typ": "at+jwt"}).to_string(),
        &claims().to_string(),
    );
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "disallowed_alg");
}

#[test]
fn alg_option_narrows() {
    let ring = ring();
    let token = ring.mint(&[]);
    let out = ring.verify(&token, &["--alg", "ES256"]).code(1);
    let v = out.json();
    assert_eq!(v["error"]["kind"], "disallowed_alg");
    assert_eq!(v["error"]["alg"], "EdDSA");
    ring.verify(&token, &["--alg", "EdDSA"]).ok();
    ring.verify(&token, &["--alg", "eddsa"]).ok();
    ring.verify(&token, &["--alg", "ES256", "--alg", "EdDSA"])
        .ok();
}

#[test]
fn unknown_kid() {
    let ring = ring();
    let other = Ring::new();
    other.generate("EdDSA");
    let token = other.mint(&[]);
    let v = ring.verify(&token, &[]).code(1).json();
    assert_eq!(v["error"]["kind"], "unknown_kid");
    assert_eq!(v["error"]["kid"], segment(&token, 0)["kid"]);
}

#[test]
fn token_without_kid_verifies_only_with_key() {
    let (ring, kid, secret) = hmac_ring();
    let token = hmac_token(
        "HS256",
        &secret,
        &json!({"alg": "HS256", "typ": "at+jwt"}),
        &claims(),
    );
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "unknown_kid");
    let jwk = ring.write("secret.jwk", ring.export(&kid, &["--private"]));
    ring.verify(&token, &["--key", &jwk]).ok();

    // The same for an asymmetric key.
    let ed = ring.generate("EdDSA");
    let pkcs8 = ring.ed25519_pkcs8(&ed);
    let token = ed25519_token(&pkcs8, &json!({"alg": "EdDSA", "typ": "at+jwt"}), &claims());
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "unknown_kid");
    let pem = ring.write("ed.pem", ring.export(&ed, &["--format", "pem"]));
    let v = ring.verify(&token, &["--key", &pem]).ok().json();
    assert_eq!(v["valid"], true);
    assert!(v["header"].get("kid").is_none());
}

#[test]
fn key_option_with_pem_jwk_jwks_and_secret() {
    let issuer = Ring::new();
    let ed = issuer.generate("EdDSA");
    let ed_token = issuer.mint(&[]);
    let rs = issuer.rotate(now(), &["--alg", "PS256"]);
    let rs_token = issuer.mint(&[]);
    let hs = issuer.rotate(now(), &["--alg", "HS384"]);
    let hs_token = issuer.mint(&[]);

    // No keyring: --keys points nowhere.
    let ring = Ring::new();
    let pem = ring.write("ed.pem", issuer.export(&ed, &["--format", "pem"]));
    let rs_pem = ring.write("rs.pem", issuer.export(&rs, &["--format", "pem"]));
    let jwk = ring.write("ed.jwk", issuer.export(&ed, &[]));
    let jwks = ring.write("jwks.json", issuer.run(&["keys", "jwks"]).ok().stdout);
    let private_pem = ring.write("ed-private.pem", issuer.export(&ed, &["--private"]));
    let secret_jwk = ring.write("hs.jwk", issuer.export(&hs, &["--private"]));
    let raw = ring.write("hs.secret", issuer.hmac_secret(&hs));

    for key in [&pem, &jwk, &jwks, &private_pem] {
        let v = ring.verify(&ed_token, &["--key", key]).ok().json();
        assert_eq!(v["valid"], true, "--key {key}");
        assert_eq!(v["claims"]["sub"], "alice");
    }
    for key in [&rs_pem, &jwks] {
        ring.verify(&rs_token, &["--key", key]).ok();
    }
    // The secret as a declared-secret oct JWK (--key), or as raw bytes (--secret only).
    ring.verify(&hs_token, &["--key", &secret_jwk]).ok();
    ring.verify(&hs_token, &["--secret", &raw]).ok();
    // Several key files.
    ring.verify(&hs_token, &["--key", &pem, "--secret", &raw])
        .ok();
    ring.verify(&ed_token, &["--secret", &raw, "--key", &pem])
        .ok();

    // The wrong key is rejected, not accepted.
    let wrong = Ring::new();
    let other = wrong.generate("EdDSA");
    let other_pem = ring.write("other.pem", wrong.export(&other, &["--format", "pem"]));
    assert_eq!(
        ring.verify(&ed_token, &["--key", &other_pem])
            .code(1)
            .kind(),
        "bad_signature"
    );
    // Long enough for HS384 (48 bytes, issue 15), so that only the signature is wrong.
    let other_secret = ring.write("other.secret", "another secret entirely ".repeat(3));
    assert_eq!(
        ring.verify(&hs_token, &["--secret", &other_secret])
            .code(1)
            .kind(),
        "bad_signature"
    );
    // An RSA key does not verify an EdDSA token.
    assert_eq!(
        ring.verify(&ed_token, &["--key", &rs_pem]).code(1).kind(),
        "disallowed_alg"
    );
    assert!(!ring.dir.exists(), "no keyring needed with --key");
}

#[test]
fn key_option_with_alg_narrowing() {
    let ring = ring();
    let kid = ring.list()[0]["kid"].as_str().unwrap().to_string();
    let token = ring.mint(&[]);
    let pem = ring.write("k.pem", ring.export(&kid, &["--format", "pem"]));
    ring.verify(&token, &["--key", &pem, "--alg", "EdDSA"]).ok();
    let out = ring
        .verify(&token, &["--key", &pem, "--alg", "ES256"])
        .code(1);
    assert_eq!(out.kind(), "disallowed_alg");
}

#[test]
fn issue_17_an_alg_refusal_says_which_side_refused() {
    let ring = ring();
    let token = ring.mint(&[]);
    // --alg excludes the token's algorithm: the message says so, not that the key refused.
    let out = ring.verify(&token, &["--alg", "RS256"]).code(1);
    let v = out.json();
    assert_eq!(v["error"]["kind"], "disallowed_alg");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("token uses EdDSA, which the accepted algorithms (--alg) [RS256] exclude"),
        "{message}"
    );
    assert!(message.contains("its key is for [EdDSA]"), "{message}");
    // The key refuses the token's algorithm: the key's side is named.
    let rs = Ring::new();
    let rs_kid = rs.generate("RS256");
    let pem = ring.write("rs.pem", rs.export(&rs_kid, &["--format", "pem"]));
    let out = ring.verify(&token, &["--key", &pem]).code(1);
    let message = out.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("token uses EdDSA, but its key allows only [RS256, "),
        "{message}"
    );
    assert!(!message.contains("--alg"), "{message}");
    // Both: --alg allows the token's algorithm, and no key given is for it.
    let out = ring
        .verify(&token, &["--key", &pem, "--alg", "EdDSA"])
        .code(1);
    let message = out.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("no key given is for an accepted algorithm (--alg) [EdDSA]"),
        "{message}"
    );
    assert!(!message.contains("[]"), "{message}");
}

#[test]
fn issue_17_a_missing_aud_or_iss_names_what_expects_it() {
    let ring = ring();
    let token = ring.mint(&[]);
    let out = ring.verify(&token, &["--aud", "api"]).code(1);
    let message = out.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("no `aud` claim; an audience is expected (--aud"),
        "{message}"
    );
    let out = ring
        .verify(&token, &["--iss", "https://id.example"])
        .code(1);
    let message = out.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("no `iss` claim; an issuer is expected (--iss"),
        "{message}"
    );
}

#[test]
fn key_option_unreadable_file_is_bad_key() {
    let ring = ring();
    let token = ring.mint(&[]);
    let missing = ring.path("missing.pem");
    let out = ring
        .verify(&token, &["--key", missing.to_str().unwrap()])
        .code(3);
    assert_eq!(out.kind(), "bad_key");
    let bad = ring.write(
        "bad.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    assert_eq!(
        ring.verify(&token, &["--key", &bad]).code(3).kind(),
        "bad_key"
    );
    let bad_json = ring.write("bad.json", "{\"kty\":");
    assert_eq!(
        ring.verify(&token, &["--key", &bad_json]).code(3).kind(),
        "bad_key"
    );
}

#[test]
fn retired_kid() {
    let ring = ring();
    let old = ring.list()[0]["kid"].as_str().unwrap().to_string();
    let token = ring.mint(&[]);
    ring.rotate(now(), &[]);
    ring.at(now(), &["keys", "retire", "--", &old]).ok();
    let out = ring.verify(&token, &[]).code(1);
    assert_eq!(out.kind(), "retired_kid");
}

#[test]
fn expired_and_leeway() {
    let ring = ring();
    let token = ring.mint(&[]);
    let exp = now() + 900;
    // Default leeway 30s; expired iff now >= exp + leeway (issue 8: the boundary second is
    // expired).
    ring.verify_at(exp + 29, &token, &[]).ok();
    let v = ring.verify_at(exp + 30, &token, &[]).code(1).json();
    assert_eq!(v["error"]["kind"], "expired");
    // --leeway.
    ring.verify_at(exp + 100, &token, &["--leeway", "2m"]).ok();
    assert_eq!(
        ring.verify_at(exp + 10, &token, &["--leeway", "5s"])
            .code(1)
            .kind(),
        "expired"
    );
    ring.verify_at(exp - 1, &token, &["--leeway", "0"]).ok();
    assert_eq!(
        ring.verify_at(exp, &token, &["--leeway", "0s"])
            .code(1)
            .kind(),
        "expired"
    );
    // Up to the store's maximum leeway (5m by default), and no further: revocations are kept
    // only that long past a token's expiry (issue 8).
    ring.verify_at(exp + 299, &token, &["--leeway", "5m"]).ok();
    let out = ring.verify_at(exp, &token, &["--leeway", "6m"]).code(2);
    assert_eq!(out.kind(), "usage");
    assert!(
        out.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_leeway")
    );
}

#[test]
fn not_yet_valid_and_issued_in_future() {
    let ring = ring();
    let token = ring.mint(&[]);
    ring.verify_at(now() - 30, &token, &[]).ok();
    let v = ring.verify_at(now() - 31, &token, &[]).code(1).json();
    assert_eq!(v["error"]["kind"], "not_yet_valid");
    assert_eq!(v["error"]["nbf"], now());
    assert_eq!(v["errors"][1]["kind"], "issued_in_future");
    ring.verify_at(now() - 100, &token, &["--leeway", "100s"])
        .ok();
}

#[test]
fn issued_in_future_alone() {
    let (ring, kid, secret) = hmac_ring();
    let mut c = claims();
    c.as_object_mut().unwrap().remove("nbf");
    c["iat"] = json!(now() + 3600);
    let token = hmac_token("HS256", &secret, &header(&kid), &c);
    let v = ring.verify(&token, &[]).code(1).json();
    assert_eq!(v["error"]["kind"], "issued_in_future");
    assert_eq!(v["error"]["iat"], now() + 3600);
    assert!(v.get("errors").is_none());
}

#[test]
fn bad_audience() {
    let ring = ring();
    let token = ring.mint(&["--aud", "api"]);
    ring.verify(&token, &["--aud", "api"]).ok();
    ring.verify(&token, &["--aud", "web", "--aud", "api"]).ok();
    let v = ring.verify(&token, &["--aud", "web"]).code(1).json();
    assert_eq!(v["error"]["kind"], "bad_audience");
    assert_eq!(v["error"]["aud"], json!(["api"]));
    // A token with an audience is refused when none is configured.
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "bad_audience");
}

#[test]
fn bad_issuer() {
    let ring = ring();
    let token = ring.mint(&["--iss", "https://a.example"]);
    ring.verify(&token, &["--iss", "https://a.example"]).ok();
    ring.verify(&token, &[]).ok();
    let v = ring
        .verify(&token, &["--iss", "https://b.example"])
        .code(1)
        .json();
    assert_eq!(v["error"]["kind"], "bad_issuer");
    assert_eq!(v["error"]["iss"], "https://a.example");
}

#[test]
fn missing_claim() {
    let ring = ring();
    let token = ring.mint(&[]);
    let v = ring.verify(&token, &["--iss", "me"]).code(1).json();
    assert_eq!(v["error"]["kind"], "missing_claim");
    assert_eq!(v["error"]["claim"], "iss");
    let v = ring.verify(&token, &["--aud", "api"]).code(1).json();
    assert_eq!(v["error"]["kind"], "missing_claim");
    assert_eq!(v["error"]["claim"], "aud");

    let (ring, kid, secret) = hmac_ring();
    for claim in ["exp", "iat", "sub", "jti"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(claim);
        let token = hmac_token("HS256", &secret, &header(&kid), &c);
        let v = ring.verify(&token, &[]).code(1).json();
        assert_eq!(v["error"]["kind"], "missing_claim", "{claim}");
        assert_eq!(v["error"]["claim"], claim);
    }
}

#[test]
fn wrong_token_type() {
    let (ring, kid, secret) = hmac_ring();
    ring.verify(&hmac_token("HS256", &secret, &header(&kid), &claims()), &[])
        .ok();
    for typ in [json!("JWT"), json!("rt+jwt"), Value::Null] {
        let mut h = header(&kid);
        if typ.is_null() {
            h.as_object_mut().unwrap().remove("typ");
        } else {
            h["typ"] = typ.clone();
        }
        let token = hmac_token("HS256", &secret, &h, &claims());
        let v = ring.verify(&token, &[]).code(1).json();
        assert_eq!(v["error"]["kind"], "wrong_token_type", "typ {typ}");
    }
    let mut h = header(&kid);
    h["typ"] = json!("application/at+jwt");
    ring.verify(&hmac_token("HS256", &secret, &h, &claims()), &[])
        .ok();
}

#[test]
fn strict_payload_and_header() {
    let (ring, kid, secret) = hmac_ring();
    let h = header(&kid).to_string();
    // exp must be a number.
    let mut c = claims();
    c["exp"] = json!((now() + 900).to_string());
    let token = hmac_token("HS256", &secret, &header(&kid), &c);
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "malformed");
    // A duplicated member name.
    let dup = claims()
        .to_string()
        .replacen('{', r#"{"sub":"mallory","#, 1);
    let token = hmac_token_raw("HS256", &secret, &h, &dup);
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "malformed");
    // An unknown critical header.
    let mut crit = header(&kid);
    crit["crit"] = json!(["exp-ext"]);
    crit["exp-ext"] = json!(1);
    let token = hmac_token("HS256", &secret, &crit, &claims());
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "malformed");
    // A payload that is not an object.
    let token = hmac_token_raw("HS256", &secret, &h, "[1,2]");
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "malformed");
}

#[test]
fn embedded_header_keys_are_not_trusted() {
    let (ring, _, _) = hmac_ring();
    // An attacker's own key, offered in the header, with a kid the keyring does not hold.
    let attacker = Ring::new();
    let ed = attacker.generate("EdDSA");
    let jwk: Value = serde_json::from_str(&attacker.export(&ed, &[])).unwrap();
    let pkcs8 = attacker.ed25519_pkcs8(&ed);
    for h in [
        json!({"alg": "EdDSA", "typ": "at+jwt", "jwk": jwk}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ed, "jwk": jwk}),
        json!({"alg": "EdDSA", "typ": "at+jwt", "jku": "http://127.0.0.1:9/jwks.json"}),
    ] {
        let token = ed25519_token(&pkcs8, &h, &claims());
        assert_eq!(
            ring.verify(&token, &[]).code(1).kind(),
            "unknown_kid",
            "{h}"
        );
    }
}

#[test]
fn usage_errors() {
    let ring = ring();
    let token = ring.mint(&[]);
    ring.at(now(), &["verify", &token, "--bogus"]).code(2);
    ring.at(now(), &["verify", &token, "--alg", "none"]).code(2);
    ring.at(now(), &["verify", &token, "--alg", "RS1"]).code(2);
    let out = ring
        .at(now(), &["--json", "verify", &token, "--leeway", "soon"])
        .code(2);
    assert_eq!(out.kind(), "usage");
    assert!(
        out.json().get("valid").is_none(),
        "a usage error is not a verdict"
    );
    ring.at(now(), &["verify", &token, "--leeway", "-5s"])
        .code(2);
    ring.run(&["--now", "yesterday", "verify", &token]).code(2);
    run(tollgate().arg("frobnicate")).code(2);
    run(&mut tollgate()).code(2);
}

#[test]
fn parser_usage_errors_are_json_under_json() {
    let ring = ring();
    let token = ring.mint(&[]);
    for args in [
        vec!["--json", "verify", &token, "--alg", "none"],
        vec!["--json", "verify", &token, "--bogus"],
    ] {
        let out = ring.at(now(), &args).code(2);
        assert_eq!(out.kind(), "usage", "{args:?}");
    }
}

#[test]
fn malformed_store_url_is_usage() {
    let ring = ring();
    let token = ring.mint(&[]);
    let out = ring
        .at(now(), &["--json", "--store", "bogus://x", "verify", &token])
        .code(2);
    assert_eq!(out.kind(), "usage");
    assert!(out.all().contains("sqlite:"), "names the accepted schemes");
}

#[test]
fn errors_never_echo_the_token() {
    let ring = ring();
    let token = ring.mint(&["--aud", "api"]);
    let (h, rest) = token.split_once('.').unwrap();
    let padded = format!("{h}=.{rest}");
    let flipped = flip_signature(&token);
    let other = Ring::new();
    other.generate("EdDSA");
    let foreign = other.mint(&[]);
    let outs = [
        (token.clone(), ring.verify_at(now() + 3600, &token, &[])),
        (token.clone(), ring.at(now(), &["verify", &token])),
        (token.clone(), ring.verify(&token, &["--aud", "web"])),
        (padded.clone(), ring.verify(&padded, &[])),
        (padded.clone(), ring.at(now(), &["inspect", &padded])),
        (flipped.clone(), ring.verify(&flipped, &[])),
        (foreign.clone(), ring.verify(&foreign, &[])),
    ];
    for (t, out) in outs {
        assert_ne!(out.code, 0);
        assert!(!out.all().contains(&t), "the token was echoed: {out:?}");
        // Nor its signature.
        let sig = t.rsplit('.').next().unwrap();
        assert!(
            !out.all().contains(sig),
            "the signature was echoed: {out:?}"
        );
    }
}
