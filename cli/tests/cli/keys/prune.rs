//! `tollgate keys prune`.

use serde_json::json;

use crate::common::{Ring, now};

#[test]
fn removes_retired_keys_and_their_files() {
    let ring = Ring::new();
    let old = ring.generate("EdDSA");
    let token = ring.mint(&[]);
    let active = ring.rotate(now(), &[]);
    let staged = ring.rotate(now(), &["--stage"]);
    ring.at(now(), &["keys", "retire", "--", &old]).ok();
    let file = ring.dir.join(format!("{old}.pem"));
    assert!(file.exists());

    let v = ring
        .at(now() + 10, &["--json", "keys", "prune"])
        .ok()
        .json();
    assert_eq!(v["pruned"], json!([old]));
    assert!(!file.exists(), "the key file is deleted");
    let kids: Vec<String> = ring
        .list()
        .iter()
        .map(|e| e["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kids, [active, staged], "only retired keys go");
    // Its tokens are now from an unknown key.
    let out = ring.verify_at(now() + 10, &token, &[]).code(1);
    assert_eq!(out.kind(), "unknown_kid");
}

#[test]
fn older_than_is_measured_from_now() {
    let ring = Ring::new();
    let old = ring.generate("EdDSA");
    ring.rotate(now(), &[]);
    ring.at(now(), &["keys", "retire", "--", &old]).ok();

    let day = 86_400;
    let v = ring
        .at(
            now() + day,
            &["--json", "keys", "prune", "--older-than", "2d"],
        )
        .ok()
        .json();
    assert_eq!(v["pruned"], json!([]));
    assert_eq!(ring.entry(&old)["state"], "retired");

    let out = ring
        .at(now() + 3 * day, &["keys", "prune", "--older-than", "2d"])
        .ok();
    assert_eq!(out.stdout.trim(), old);
    assert!(out.stderr.contains("pruned 1"), "{}", out.stderr);
    assert_eq!(ring.list().len(), 1);
}

#[test]
fn imported_keys_are_pruned_with_their_files() {
    let issuer = Ring::new();
    let kid = issuer.generate("ES256");
    let token = issuer.mint(&[]);
    let ring = Ring::new();
    ring.generate("EdDSA");
    let file = ring.write("k.jwk", issuer.export(&kid, &[]));
    ring.at(now(), &["keys", "import", &file]).ok();
    ring.verify(&token, &[]).ok();
    let stored = ring.dir.join(format!("{kid}.pub.jwk"));
    assert!(stored.exists());
    ring.at(now(), &["keys", "retire", "--", &kid]).ok();
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "retired_kid");
    let v = ring.at(now(), &["--json", "keys", "prune"]).ok().json();
    assert_eq!(v["pruned"], json!([kid]));
    assert!(!stored.exists());
    assert_eq!(ring.verify(&token, &[]).code(1).kind(), "unknown_kid");
}

#[test]
fn readers_never_fail_while_prune_runs() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let ring = Ring::new();
    ring.generate("EdDSA");
    // More files to read before the newest one widens the window: verify keys, since a
    // keyring holds one `next` key at a time.
    for _ in 0..6 {
        ring.rotate(now(), &["--alg", "RS256"]);
    }
    ring.rotate(now(), &["--alg", "EdDSA"]);
    let token = ring.mint(&[]);
    let done = AtomicBool::new(false);
    let failures = std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..40 {
                let kid = ring.generate("EdDSA");
                ring.at(now(), &["keys", "retire", "--", &kid]).ok();
                ring.at(now(), &["keys", "prune"]).ok();
            }
            done.store(true, Ordering::SeqCst);
        });
        let mut failures = Vec::new();
        while !done.load(Ordering::SeqCst) {
            let out = ring.verify(&token, &[]);
            if out.code != 0 {
                failures.push(out.stderr);
            }
        }
        failures
    });
    assert!(
        failures.is_empty(),
        "{} failed verifications: {failures:#?}",
        failures.len()
    );
}

#[test]
fn bad_duration_is_usage() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let out = ring
        .at(now(), &["--json", "keys", "prune", "--older-than", "soon"])
        .code(2);
    assert_eq!(out.kind(), "usage");
}

#[test]
fn nothing_to_prune() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let v = ring.at(now(), &["--json", "keys", "prune"]).ok().json();
    assert_eq!(v, json!({"pruned": []}));
}
