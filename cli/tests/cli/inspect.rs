//! `tollgate inspect`.

use serde_json::json;

use crate::common::{Ring, b64, flip_signature, now, run, segment};

#[test]
fn human_output_is_labelled_unverified() {
    let ring = Ring::new();
    let kid = ring.generate("EdDSA");
    let token = ring.mint(&["--claim", "role=admin"]);
    let out = ring.at(now() + 60, &["inspect", &token]).ok();
    assert!(out.stdout.contains("UNVERIFIED"), "{}", out.stdout);
    assert!(out.stdout.contains("role"));
    assert!(
        out.stdout.contains(&tollgate::format_time(now())),
        "issued, human form"
    );
    assert!(
        out.stdout.contains(&tollgate::format_time(now() + 15 * 60)),
        "expires, human form"
    );
    assert!(out.stdout.contains("not expired"), "{}", out.stdout);
    assert!(out.stdout.contains(&kid), "which key signed it");
}

#[test]
fn json_shape() {
    let ring = Ring::new();
    let kid = ring.generate("EdDSA");
    let token = ring.mint(&[]);
    let v = ring.at(now(), &["--json", "inspect", &token]).ok().json();
    assert_eq!(v["verified"], false);
    assert_eq!(v["header"], segment(&token, 0));
    assert_eq!(v["claims"], segment(&token, 1));
    assert_eq!(v["expired"], false);
    assert_eq!(v["key"]["kid"], kid.as_str());
    assert_eq!(v["key"]["state"], "active");
}

#[test]
fn works_on_an_expired_token_without_a_keyring() {
    let issuer = Ring::new();
    issuer.generate("EdDSA");
    let token = issuer.mint(&[]);
    let ring = Ring::new();
    let v = ring
        .at(now() + 7200, &["--json", "inspect", &token])
        .ok()
        .json();
    assert_eq!(v["verified"], false);
    assert_eq!(v["expired"], true);
    assert_eq!(v["claims"]["sub"], "alice");
    assert!(v.get("key").is_none());
    let out = ring.at(now() + 7200, &["inspect", &token]).ok();
    assert!(out.stdout.contains("UNVERIFIED"));
    assert!(out.stdout.contains("expired"));
    assert!(out.stdout.contains("1h45m ago"), "{}", out.stdout);
    assert!(!ring.dir.exists());
}

#[test]
fn does_not_check_the_signature() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let token = flip_signature(&ring.mint(&[]));
    let v = ring.at(now(), &["--json", "inspect", &token]).ok().json();
    assert_eq!(v["verified"], false);
}

#[test]
fn stdin_and_file() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let token = ring.mint(&[]);
    let v = ring
        .stdin(now(), &["--json", "inspect", "-"], &token)
        .ok()
        .json();
    assert_eq!(v["claims"]["sub"], "alice");
    ring.stdin(now(), &["inspect"], &token).ok();
    let file = ring.write("t.jwt", &token);
    ring.at(now(), &["inspect", &format!("@{file}")]).ok();
}

#[test]
fn control_characters_in_values_are_escaped() {
    let ring = Ring::new();
    let payload = json!({"sub": "a", "note": "\u{1b}]0;pwned\u{7}\u{1b}[2J\r"});
    let token = format!(
        "{}.{}.c2ln",
        b64(br#"{"alg":"HS256","typ":"at+jwt"}"#),
        b64(payload.to_string().as_bytes())
    );
    let out = run(ring.cmd().env("CLICOLOR_FORCE", "1").args([
        "--now",
        &now().to_string(),
        "inspect",
        &token,
    ]))
    .ok();
    assert!(!out.stdout.contains("\u{1b}]0;"), "{:?}", out.stdout);
    assert!(!out.stdout.contains('\r'), "{:?}", out.stdout);
}

#[test]
fn control_characters_in_member_names_are_escaped() {
    let ring = Ring::new();
    let name = "\u{1b}]0;pwned\u{7}\u{1b}[2Jevil\rUNVERIFIED";
    let mut payload = json!({"sub": "a"});
    payload[name] = json!(1);
    let token = format!(
        "{}.{}.c2ln",
        b64(br#"{"alg":"HS256","typ":"at+jwt"}"#),
        b64(payload.to_string().as_bytes())
    );
    // Piped: a carriage return can overwrite the UNVERIFIED label.
    let piped = ring.at(now(), &["inspect", &token]).ok();
    assert!(!piped.stdout.contains('\r'), "{:?}", piped.stdout);
    // On a terminal (colour forced, as on a tty): no escape sequence from the token.
    let tty = run(ring.cmd().env("CLICOLOR_FORCE", "1").args([
        "--now",
        &now().to_string(),
        "inspect",
        &token,
    ]))
    .ok();
    assert!(!tty.stdout.contains("\u{1b}]0;"), "{:?}", tty.stdout);
    assert!(!tty.stdout.contains("\u{1b}[2J"), "{:?}", tty.stdout);
    assert!(!tty.stdout.contains('\u{7}'), "{:?}", tty.stdout);
}

#[test]
fn malformed_is_exit_1() {
    let ring = Ring::new();
    // ("e30.e30.", an empty signature, is no longer malformed for inspect: issue 10 shows
    // unsigned tokens, see unsigned_tokens_are_shown_labelled_unsigned_and_never_verify.)
    for bad in [
        "garbage",
        "a.b",
        "e30=.e30.c2ln",
        "e30.e30",
        "e30.e30.c2ln.",
        "e30.bm90IGpzb24.c2ln",
    ] {
        let out = ring.at(now(), &["--json", "inspect", bad]).code(1);
        let v = out.json();
        assert_eq!(v["valid"], false);
        assert_eq!(v["error"]["kind"], "malformed", "{bad}");
    }
    let out = ring.at(now(), &["inspect", "garbage"]).code(1);
    assert_eq!(out.stdout, "");
}

/// Issue 17: `inspect` consults the default store (`sqlite:./tollgate.db`) when it exists, as
/// every other command does, and never creates it.
#[test]
fn the_default_store_is_consulted_when_it_exists() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let token = ring.mint(&[]);
    let out = ring.at(now(), &["inspect", &token]).ok();
    assert!(!out.stdout.contains("revoked by"), "{}", out.stdout);
    assert!(
        !ring.path("tollgate.db").exists(),
        "inspect created the store"
    );
    ring.at(now(), &["revoke", &token]).ok();
    let out = ring.at(now(), &["inspect", &token]).ok();
    assert!(
        out.stdout.contains("revoked by its token"),
        "{}",
        out.stdout
    );
    let v = ring.at(now(), &["--json", "inspect", &token]).ok().json();
    assert_eq!(v["revoked"], true, "{v}");
}

/// Issue 10: unsigned tokens (`alg: none`, or an empty signature) are shown, exit 0, labelled
/// UNSIGNED as well as UNVERIFIED (`"unsigned": true` with `--json`); `verify` refuses each.
#[test]
fn unsigned_tokens_are_shown_labelled_unsigned_and_never_verify() {
    let ring = Ring::new();
    let kid = ring.generate("HS256");
    let secret = ring.write("hs.secret", ring.hmac_secret(&kid));
    let jwk = ring.write("hs.jwk", ring.export(&kid, &["--private"]));
    let claims = json!({"sub": "alice", "exp": now() + 600}).to_string();
    let b64j = |s: &str| b64(s.as_bytes());
    let none = b64j(r#"{"alg":"none","typ":"JWT"}"#);
    let cases = [
        (
            "alg none, empty signature",
            format!("{none}.{}.", b64j(&claims)),
            "malformed",
        ),
        (
            "alg none with a signature",
            format!("{none}.{}.{}", b64j(&claims), b64(b"signature")),
            "disallowed_alg",
        ),
        (
            "no alg, empty signature",
            format!("e30.{}.", b64j(&claims)),
            "malformed",
        ),
        (
            "alg None (any case), empty signature",
            format!("{}.{}.", b64j(r#"{"alg":"None"}"#), b64j(&claims)),
            "malformed",
        ),
        (
            "alg HS256 naming a kid, empty signature",
            format!(
                "{}.{}.",
                b64j(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}).to_string()),
                b64j(&crate::common::claims().to_string())
            ),
            "malformed",
        ),
    ];
    for (what, token, kind) in cases {
        let out = ring.at(now(), &["inspect", &token]).ok();
        assert!(out.stdout.contains("UNSIGNED"), "{what}: {}", out.stdout);
        assert!(out.stdout.contains("UNVERIFIED"), "{what}: {}", out.stdout);
        assert!(out.stdout.contains("alice"), "{what}: claims shown");
        let v = ring.at(now(), &["--json", "inspect", &token]).ok().json();
        assert_eq!(v["unsigned"], true, "{what}: {v}");
        assert_eq!(v["verified"], false, "{what}");
        assert_eq!(v["claims"]["sub"], "alice", "{what}");
        // verify: with the keyring, with --secret, and with --key.
        for args in [
            vec![],
            vec!["--secret", secret.as_str()],
            vec!["--key", jwk.as_str()],
        ] {
            let mut all = vec!["--json", "verify", token.as_str()];
            all.extend_from_slice(&args);
            let out = ring.at(now(), &all).code(1);
            assert_eq!(out.kind(), kind, "{what} {args:?}");
            assert_eq!(out.json()["valid"], false);
        }
    }
    // A signed token is not labelled unsigned.
    let token = ring.mint(&[]);
    let out = ring.at(now(), &["inspect", &token]).ok();
    assert!(!out.stdout.contains("UNSIGNED"), "{}", out.stdout);
    let v = ring.at(now(), &["--json", "inspect", &token]).ok().json();
    assert!(v.get("unsigned").is_none(), "{v}");
}
