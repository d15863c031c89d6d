//! `tollgate inspect`.

use serde_json::json;

use crate::common::{NOW, Ring, b64, flip_signature, run, segment};

#[test]
fn human_output_is_labelled_unverified() {
    let ring = Ring::new();
    let kid = ring.generate("EdDSA");
    let token = ring.mint(&["--claim", "role=admin"]);
    let out = ring.at(NOW + 60, &["inspect", &token]).ok();
    assert!(out.stdout.contains("UNVERIFIED"), "{}", out.stdout);
    assert!(out.stdout.contains("role"));
    assert!(
        out.stdout.contains("2027-01-15T08:00:00Z"),
        "issued, human form"
    );
    assert!(
        out.stdout.contains("2027-01-15T08:15:00Z"),
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
    let v = ring.at(NOW, &["--json", "inspect", &token]).ok().json();
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
        .at(NOW + 7200, &["--json", "inspect", &token])
        .ok()
        .json();
    assert_eq!(v["verified"], false);
    assert_eq!(v["expired"], true);
    assert_eq!(v["claims"]["sub"], "alice");
    assert!(v.get("key").is_none());
    let out = ring.at(NOW + 7200, &["inspect", &token]).ok();
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
    let v = ring.at(NOW, &["--json", "inspect", &token]).ok().json();
    assert_eq!(v["verified"], false);
}

#[test]
fn stdin_and_file() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let token = ring.mint(&[]);
    let v = ring
        .stdin(NOW, &["--json", "inspect", "-"], &token)
        .ok()
        .json();
    assert_eq!(v["claims"]["sub"], "alice");
    ring.stdin(NOW, &["inspect"], &token).ok();
    let file = ring.write("t.jwt", &token);
    ring.at(NOW, &["inspect", &format!("@{file}")]).ok();
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
        &NOW.to_string(),
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
    let piped = ring.at(NOW, &["inspect", &token]).ok();
    assert!(!piped.stdout.contains('\r'), "{:?}", piped.stdout);
    // On a terminal (colour forced, as on a tty): no escape sequence from the token.
    let tty = run(ring.cmd().env("CLICOLOR_FORCE", "1").args([
        "--now",
        &NOW.to_string(),
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
    for bad in ["garbage", "a.b", "e30.e30.", "e30=.e30.c2ln"] {
        let out = ring.at(NOW, &["--json", "inspect", bad]).code(1);
        let v = out.json();
        assert_eq!(v["valid"], false);
        assert_eq!(v["error"]["kind"], "malformed", "{bad}");
    }
    let out = ring.at(NOW, &["inspect", "garbage"]).code(1);
    assert_eq!(out.stdout, "");
}
