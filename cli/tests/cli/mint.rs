//! `tollgate mint`.

use serde_json::json;

use crate::common::{Ring, is_uuid, now, run, segment, tollgate};

fn ring() -> Ring {
    let ring = Ring::new();
    ring.generate("EdDSA");
    ring
}

#[test]
fn header_and_default_claims() {
    let ring = ring();
    let kid = ring.list()[0]["kid"].as_str().unwrap().to_string();
    let token = ring.mint(&[]);
    let header = segment(&token, 0);
    assert_eq!(header["kid"], kid.as_str());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    let c = segment(&token, 1);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["iat"], now());
    assert_eq!(c["nbf"], now());
    assert_eq!(c["exp"], now() + 15 * 60, "default ttl 15m");
    assert!(is_uuid(c["jti"].as_str().unwrap()), "{c}");
    assert!(is_uuid(c["sid"].as_str().unwrap()), "{c}");
    assert!(c.get("aud").is_none() && c.get("iss").is_none());
    // jti and sid are new for every token.
    let again = segment(&ring.mint(&[]), 1);
    assert_ne!(again["jti"], c["jti"]);
    assert_ne!(again["sid"], c["sid"]);
}

#[test]
fn json_shape() {
    let ring = ring();
    let v = ring
        .at(now(), &["--json", "mint", "--sub", "bob", "--sid", "s9"])
        .ok()
        .json();
    let token = v["token"].as_str().unwrap();
    assert_eq!(segment(token, 1), v["claims"]);
    assert_eq!(v["kid"], segment(token, 0)["kid"]);
    assert_eq!(v["claims"]["sub"], "bob");
    assert_eq!(v["claims"]["sid"], "s9");
}

#[test]
fn options() {
    let ring = ring();
    let token = ring.mint(&[
        "--ttl",
        "1h",
        "--aud",
        "api",
        "--aud",
        "admin",
        "--iss",
        "https://auth.example",
        "--sid",
        "session-7",
        "--claim",
        "role=admin",
        "--claim",
        "level=3",
        "--claim",
        "flags=[true,null]",
        "--claim",
        "quoted=\"7\"",
        "--claim",
        "eq=a=b",
        "--claims",
        r#"{"org":{"id":42},"tags":["x"]}"#,
    ]);
    let c = segment(&token, 1);
    assert_eq!(c["exp"], now() + 3600);
    assert_eq!(c["aud"], json!(["api", "admin"]));
    assert_eq!(c["iss"], "https://auth.example");
    assert_eq!(c["sid"], "session-7");
    assert_eq!(c["role"], "admin", "a non-JSON value is a string");
    assert_eq!(c["level"], 3, "a JSON value is JSON");
    assert_eq!(c["flags"], json!([true, null]));
    assert_eq!(c["quoted"], "7");
    assert_eq!(c["eq"], "a=b");
    assert_eq!(c["org"], json!({"id": 42}));
    assert_eq!(c["tags"], json!(["x"]));
    let v = ring
        .verify(&token, &["--aud", "admin", "--iss", "https://auth.example"])
        .ok()
        .json();
    assert_eq!(v["claims"]["role"], "admin");
    assert_eq!(v["claims"]["org"]["id"], 42);
}

#[test]
fn one_audience_is_a_string() {
    let ring = ring();
    let c = segment(&ring.mint(&["--aud", "api"]), 1);
    assert_eq!(c["aud"], "api");
}

#[test]
fn ttl_bounds() {
    let ring = ring();
    let c = segment(&ring.mint(&["--ttl", "24h"]), 1);
    assert_eq!(c["exp"], now() + 86_400);
    let c = segment(&ring.mint(&["--ttl", "90s"]), 1);
    assert_eq!(c["exp"], now() + 90);
    let c = segment(&ring.mint(&["--ttl", "1h30m"]), 1);
    assert_eq!(c["exp"], now() + 5400);
    // A bare number is refused since issue 16 (it was seconds); 0 is too short a lifetime.
    for bad in ["25h", "2d", "24h1s", "0s", "0", "90"] {
        let out = ring
            .at(now(), &["--json", "mint", "--sub", "a", "--ttl", bad])
            .code(2);
        assert_eq!(out.kind(), "usage", "--ttl {bad}");
    }
}

#[test]
fn bad_duration_is_usage() {
    let ring = ring();
    for bad in ["soon", "15x", "-5m", "1.5h", ""] {
        let ttl = format!("--ttl={bad}");
        let out = ring
            .at(now(), &["--json", "mint", "--sub", "a", &ttl])
            .code(2);
        assert_eq!(out.kind(), "usage", "--ttl {bad:?}");
    }
}

#[test]
fn registered_claim_names_are_usage() {
    let ring = ring();
    for name in ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid"] {
        let claim = format!("{name}=x");
        let out = ring
            .at(now(), &["--json", "mint", "--sub", "a", "--claim", &claim])
            .code(2);
        assert_eq!(out.kind(), "usage", "--claim {claim}");
        let claims = format!(r#"{{"{name}":1}}"#);
        let out = ring
            .at(
                now(),
                &["--json", "mint", "--sub", "a", "--claims", &claims],
            )
            .code(2);
        assert_eq!(out.kind(), "usage", "--claims {claims}");
    }
}

#[test]
fn malformed_claim_options_are_usage() {
    let ring = ring();
    for args in [
        ["--claim", "no-equals-sign"],
        ["--claims", "{not json"],
        ["--claims", "[1,2]"],
    ] {
        let mut all = vec!["--json", "mint", "--sub", "a"];
        all.extend_from_slice(&args);
        let out = ring.at(now(), &all).code(2);
        assert_eq!(out.kind(), "usage", "{args:?}");
    }
    let out = ring.at(now(), &["--json", "mint", "--sub", ""]).code(2);
    assert_eq!(out.kind(), "usage", "empty subject");
    // --sub is required (a clap usage error).
    ring.at(now(), &["mint"]).code(2);
}

#[test]
fn kid_option_must_name_the_active_key() {
    let ring = Ring::new();
    let active = ring.generate("EdDSA");
    let next = ring.generate("EdDSA");
    let token = ring.mint(&[&format!("--kid={active}")]);
    assert_eq!(segment(&token, 0)["kid"], active.as_str());
    let out = ring
        .at(
            now(),
            &["--json", "mint", "--sub", "a", &format!("--kid={next}")],
        )
        .code(2);
    assert_eq!(out.kind(), "usage");
    let out = ring
        .at(now(), &["--json", "mint", "--sub", "a", "--kid=nope"])
        .code(2);
    assert_eq!(out.kind(), "usage");
}

#[test]
fn issuer_and_audience_from_env_and_global_options() {
    let ring = ring();
    let out = run(ring
        .cmd()
        .env("TOLLGATE_ISSUER", "https://env.example")
        .env("TOLLGATE_AUDIENCE", "env-api")
        .args(["--now", &now().to_string(), "mint", "--sub", "alice"]))
    .ok();
    let token = out.stdout.trim().to_string();
    let c = segment(&token, 1);
    assert_eq!(c["iss"], "https://env.example");
    assert_eq!(c["aud"], "env-api");

    // verify takes the same defaults from the environment.
    let verified = run(ring
        .cmd()
        .env("TOLLGATE_ISSUER", "https://env.example")
        .env("TOLLGATE_AUDIENCE", "env-api")
        .args(["--now", &now().to_string(), "--json", "verify", &token]))
    .ok();
    assert_eq!(verified.json()["valid"], true);
    // Without them the audience is unexpected.
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "bad_audience");
    let wrong = run(ring
        .cmd()
        .env("TOLLGATE_ISSUER", "https://other.example")
        .env("TOLLGATE_AUDIENCE", "env-api")
        .args(["--now", &now().to_string(), "--json", "verify", &token]))
    .code(1);
    assert_eq!(wrong.kind(), "bad_issuer");

    // Explicit options win over the environment; --issuer/--audience are the same defaults.
    let out = run(ring
        .cmd()
        .env("TOLLGATE_ISSUER", "https://env.example")
        .env("TOLLGATE_AUDIENCE", "env-api")
        .args([
            "--now",
            &now().to_string(),
            "mint",
            "--sub",
            "alice",
            "--iss",
            "mine",
            "--aud",
            "other",
        ]))
    .ok();
    let c = segment(out.stdout.trim(), 1);
    assert_eq!(c["iss"], "mine");
    assert_eq!(c["aud"], "other");
    let c = segment(
        &ring.mint(&["--issuer", "global-iss", "--audience", "global-aud"]),
        1,
    );
    assert_eq!(c["iss"], "global-iss");
    assert_eq!(c["aud"], "global-aud");
}

#[test]
fn keys_from_env() {
    let ring = ring();
    let out = run(tollgate()
        .current_dir(ring.tmp.path())
        .env("TOLLGATE_KEYS", &ring.dir)
        .args(["--now", &now().to_string(), "mint", "--sub", "alice"]))
    .ok();
    ring.verify(out.stdout.trim(), &[]).ok();
    // The default keyring is ./keys.
    let out = run(tollgate().current_dir(ring.tmp.path()).args([
        "--now",
        &now().to_string(),
        "mint",
        "--sub",
        "alice",
    ]))
    .ok();
    ring.verify(out.stdout.trim(), &[]).ok();
}
