//! `tollgate keys retire`.

use serde_json::Value;

use crate::common::{Ring, now};

#[test]
fn retired_key_rejects_its_tokens_with_a_warning() {
    let ring = Ring::new();
    let old = ring.generate("EdDSA");
    let token = ring.mint(&[]);
    ring.rotate(now(), &[]);
    let out = ring
        .at(now() + 60, &["--json", "keys", "retire", "--", &old])
        .ok();
    let v = out.json();
    assert_eq!(v["kid"], old.as_str());
    assert_eq!(v["state"], "retired");
    let warning = v["warning"]
        .as_str()
        .expect("warning while tokens may be live");
    assert!(warning.contains(&old), "{warning}");
    assert!(out.stderr.contains("warning"), "{}", out.stderr);

    let rejected = ring.verify_at(now() + 60, &token, &[]).code(1);
    let v = rejected.json();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error"]["kind"], "retired_kid");
    assert_eq!(v["error"]["kid"], old.as_str());
    assert_eq!(ring.entry(&old)["state"], "retired");
    assert_eq!(ring.entry(&old)["retired"], now() + 60);
}

#[test]
fn no_warning_once_every_token_has_expired() {
    let ring = Ring::new();
    let old = ring.generate("EdDSA");
    ring.rotate(now(), &[]);
    let out = ring
        .at(
            now() + 2 * 86_400,
            &["--json", "keys", "retire", "--", &old],
        )
        .ok();
    assert_eq!(out.json()["warning"], Value::Null);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn human_output_is_the_kid() {
    let ring = Ring::new();
    let old = ring.generate("EdDSA");
    ring.rotate(now(), &[]);
    let out = ring.at(now(), &["keys", "retire", "--", &old]).ok();
    assert_eq!(out.stdout.trim(), old);
    assert!(out.stderr.contains("warning:"));
}

#[test]
fn retiring_the_active_key_is_usage() {
    let ring = Ring::new();
    let active = ring.generate("EdDSA");
    let out = ring
        .at(now(), &["--json", "keys", "retire", "--", &active])
        .code(2);
    assert_eq!(out.kind(), "usage");
    assert_eq!(ring.entry(&active)["state"], "active");
}

#[test]
fn retiring_an_unknown_kid_is_usage() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let out = ring
        .at(now(), &["--json", "keys", "retire", "nope"])
        .code(2);
    assert_eq!(out.kind(), "usage");
}

#[test]
fn kid_starting_with_a_dash_is_accepted_as_an_argument() {
    let ring = Ring::new();
    ring.at(now(), &["keys", "generate", "--kid=-abc"]).ok();
    ring.rotate(now(), &[]);
    ring.at(now(), &["keys", "export", "-abc"]).ok();
    ring.at(now(), &["keys", "retire", "-abc"]).ok();
}
