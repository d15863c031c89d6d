//! `tollgate keys rotate`.

use std::process::Stdio;

use serde_json::Value;

use crate::common::{Ring, bin, now, segment};

#[test]
fn old_key_verifies_with_tokens_valid_until_and_new_key_signs() {
    let ring = Ring::new();
    let old = ring.generate("EdDSA");
    let before = ring.mint(&[]);
    let new = ring.rotate(now() + 100, &[]);
    assert_ne!(old, new);

    let old_entry = ring.entry(&old);
    assert_eq!(old_entry["state"], "verify");
    assert_eq!(old_entry["deactivated"], now() + 100);
    assert_eq!(old_entry["tokens_valid_until"], now() + 100 + 86_400);
    let new_entry = ring.entry(&new);
    assert_eq!(new_entry["state"], "active");
    assert_eq!(new_entry["activated"], now() + 100);
    assert_eq!(new_entry["alg"], "EdDSA", "default: the active key's alg");
    assert!(new_entry.get("tokens_valid_until").is_none());

    let after = ring.mint_at(now() + 100, &[]);
    assert_eq!(segment(&after, 0)["kid"], new.as_str());

    // A token minted before the rotation still verifies, by the verify key.
    let v = ring.verify_at(now() + 200, &before, &[]).ok().json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["header"]["kid"], old.as_str());
    assert_eq!(v["key_state"], "verify");
    ring.verify_at(now() + 200, &after, &[]).ok();
}

#[test]
fn alg_option_changes_the_algorithm() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let new = ring.rotate(now(), &["--alg", "ES256"]);
    assert_eq!(ring.entry(&new)["alg"], "ES256");
    let token = ring.mint(&[]);
    assert_eq!(segment(&token, 0)["alg"], "ES256");
    ring.verify(&token, &[]).ok();
}

#[test]
fn stage_then_rotate_promotes_the_staged_kid() {
    let ring = Ring::new();
    let old = ring.generate("EdDSA");
    let staged = ring.rotate(now(), &["--stage"]);
    assert_eq!(ring.entry(&staged)["state"], "next");
    assert_eq!(ring.entry(&old)["state"], "active");

    // Published in JWKS, but the old key still signs.
    let jwks = ring.run(&["keys", "jwks"]).ok().json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&staged.as_str()) && kids.contains(&old.as_str()));
    assert_eq!(segment(&ring.mint(&[]), 0)["kid"], old.as_str());

    let promoted = ring.rotate(now() + 60, &[]);
    assert_eq!(promoted, staged, "rotate promotes the staged key");
    assert_eq!(ring.entry(&staged)["state"], "active");
    assert_eq!(ring.entry(&old)["state"], "verify");
    assert_eq!(ring.list().len(), 2, "no extra key was generated");
    assert_eq!(
        segment(&ring.mint_at(now() + 60, &[]), 0)["kid"],
        staged.as_str()
    );
}

#[test]
fn staged_key_of_another_alg_refuses_a_conflicting_alg() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    ring.rotate(now(), &["--stage", "--alg", "ES256"]);
    let out = ring
        .at(now(), &["--json", "keys", "rotate", "--alg", "EdDSA"])
        .code(2);
    assert_eq!(out.kind(), "usage");
}

#[test]
fn rotate_on_a_new_keyring_creates_an_active_key() {
    let ring = Ring::new();
    let kid = ring.rotate(now(), &[]);
    assert_eq!(ring.entry(&kid)["state"], "active");
    assert_eq!(Ring::mode(&ring.dir), 0o700);
}

#[test]
fn concurrent_rotations_leave_a_consistent_keyring() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    for round in 1..=5 {
        let spawn = || {
            std::process::Command::new(bin())
                .arg("--keys")
                .arg(&ring.dir)
                .args(["--json", "keys", "rotate"])
                .env_remove("TOLLGATE_KEYS")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn tollgate")
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        for o in [&a, &b] {
            assert!(
                o.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let kid = |o: &std::process::Output| -> String {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            v["kid"].as_str().unwrap().to_string()
        };
        let (ka, kb) = (kid(&a), kid(&b));
        assert_ne!(ka, kb, "round {round}: both rotations returned one key");

        // The manifest parses and agrees with the directory.
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(ring.dir.join("keyring.json")).unwrap())
                .expect("keyring.json parses");
        let keys = manifest["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1 + 2 * round, "round {round}");
        let active: Vec<&Value> = keys.iter().filter(|k| k["state"] == "active").collect();
        assert_eq!(active.len(), 1, "round {round}: exactly one active key");
        assert!(active[0]["kid"] == ka.as_str() || active[0]["kid"] == kb.as_str());
        for k in keys {
            let file = k["file"].as_str().unwrap();
            assert!(
                ring.dir.join(file).is_file(),
                "round {round}: {file} missing"
            );
        }
        for name in ring.files() {
            assert!(!name.contains(".tmp"), "temp file left: {name}");
        }
        // And the CLI can use it.
        let list = ring.list();
        assert_eq!(list.len(), 1 + 2 * round);
        ring.verify(&ring.mint(&[]), &[]).ok();
    }
}

#[test]
fn issue_17_a_second_next_key_is_refused() {
    let ring = Ring::new();
    let active = ring.generate("EdDSA");
    let next = ring.rotate(now(), &["--stage"]);
    let tries: [&[&str]; 3] = [
        &["--json", "keys", "rotate", "--stage"],
        &["--json", "keys", "generate"],
        &[
            "--json", "keys", "generate", "--alg", "ES256", "--kid", "second",
        ],
    ];
    for args in tries {
        let out = ring.at(now(), args).code(2);
        let v = out.json();
        assert_eq!(v["error"]["kind"], "usage", "{args:?}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(&next), "names the staged key: {message}");
        assert!(message.contains("tollgate keys rotate"), "{message}");
        assert!(message.contains("tollgate keys retire"), "{message}");
    }
    // Nothing was added.
    assert_eq!(ring.list().len(), 2);
    // Promoting the staged key makes room for the next one.
    ring.rotate(now(), &[]);
    assert_eq!(ring.entry(&next)["state"], "active");
    assert_eq!(ring.entry(&active)["state"], "verify");
    let staged = ring.rotate(now(), &["--stage"]);
    // So does retiring it (it never signed).
    ring.at(now(), &["keys", "retire", "--", &staged]).ok();
    let generated = ring.generate("ES256");
    assert_eq!(ring.entry(&generated)["state"], "next");
}
