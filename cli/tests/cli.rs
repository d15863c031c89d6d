//! Black-box tests of the `tollgate` binary against the CLI contract (shared/CLI.md): every
//! command, every exit code (0 valid, 1 rejected, 2 usage, 3 environment) and every `--json`
//! shape. Each test has its own temp keyring (`--keys`) and a fixed `--now`; nothing sleeps.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{
    NOW, Out, Ring, b64, bin, claims, ed25519_token, flip_signature, hmac_token, hmac_token_raw,
    is_uuid, run, segment, tollgate,
};
use predicates::prelude::*;
use serde_json::{Value, json};

const ALL_ALGS: [&str; 12] = [
    "EdDSA", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "HS256",
    "HS384", "HS512",
];

/// Generates a key of `alg` in a fresh keyring, mints with it and verifies the token.
fn round_trip(ring: &Ring, alg: &str) {
    let generated = ring
        .at(NOW, &["--json", "keys", "generate", "--alg", alg])
        .ok()
        .json();
    assert_eq!(generated["alg"], alg);
    assert_eq!(generated["state"], "active", "the first key is active");
    assert_eq!(generated["private"], true);
    let kid = generated["kid"].as_str().unwrap();
    let token = ring.mint(&[]);
    let header = segment(&token, 0);
    assert_eq!(header["alg"], alg);
    assert_eq!(header["kid"], kid);
    let verified = ring.verify(&token, &[]).ok().json();
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["header"]["alg"], alg);
    assert_eq!(verified["claims"]["sub"], "alice");
}

// ---------------------------------------------------------------------------------------------
// keys generate

mod generate {
    use super::*;

    #[test]
    fn eddsa_round_trip() {
        round_trip(&Ring::new(), "EdDSA");
    }

    #[test]
    fn es256_round_trip() {
        round_trip(&Ring::new(), "ES256");
    }

    #[test]
    fn es384_round_trip() {
        round_trip(&Ring::new(), "ES384");
    }

    #[test]
    fn rs256_round_trip() {
        round_trip(&Ring::new(), "RS256");
    }

    #[test]
    fn ps256_round_trip() {
        round_trip(&Ring::new(), "PS256");
    }

    #[test]
    fn large_rsa_round_trips() {
        for alg in ["RS384", "RS512", "PS384", "PS512"] {
            round_trip(&Ring::new(), alg);
        }
    }

    #[test]
    fn hs256_round_trip() {
        round_trip(&Ring::new(), "HS256");
    }

    #[test]
    fn hs384_round_trip() {
        round_trip(&Ring::new(), "HS384");
    }

    #[test]
    fn hs512_round_trip() {
        round_trip(&Ring::new(), "HS512");
    }

    #[test]
    fn default_algorithm_is_eddsa_and_prints_the_kid() {
        let ring = Ring::new();
        let out = ring.at(NOW, &["keys", "generate"]).ok();
        let kid = out.stdout.trim();
        assert!(!kid.is_empty());
        assert_eq!(out.stdout.lines().count(), 1, "stdout is just the kid");
        let entry = ring.entry(kid);
        assert_eq!(entry["alg"], "EdDSA");
        assert_eq!(entry["created"], NOW);
    }

    #[test]
    fn help_names_every_algorithm() {
        let out = run(tollgate().args(["keys", "generate", "--help"])).ok();
        for alg in ALL_ALGS {
            assert!(out.stdout.contains(alg), "{alg} missing from help");
        }
    }

    #[test]
    fn algorithm_names_are_case_insensitive_on_input() {
        let ring = Ring::new();
        let out = ring
            .at(NOW, &["--json", "keys", "generate", "--alg", "es256"])
            .ok();
        assert_eq!(out.json()["alg"], "ES256");
    }

    #[test]
    fn first_key_active_second_next() {
        let ring = Ring::new();
        let first = ring.generate("EdDSA");
        let second = ring.generate("ES256");
        assert_eq!(ring.entry(&first)["state"], "active");
        assert_eq!(ring.entry(&second)["state"], "next");
        // The `next` key does not sign.
        let token = ring.mint(&[]);
        assert_eq!(segment(&token, 0)["kid"], first.as_str());
    }

    #[test]
    fn json_shape() {
        let ring = Ring::new();
        let v = ring
            .at(
                NOW,
                &[
                    "--json", "keys", "generate", "--alg", "ES384", "--kid", "k1",
                ],
            )
            .ok()
            .json();
        assert_eq!(v["kid"], "k1");
        assert_eq!(v["alg"], "ES384");
        assert_eq!(v["state"], "active");
        assert_eq!(v["file"], "k1.pem");
        assert_eq!(v["private"], true);
        assert_eq!(v["created"], NOW);
        assert_eq!(v["activated"], NOW);
    }

    #[test]
    fn kid_option_and_its_errors() {
        let ring = Ring::new();
        ring.at(NOW, &["keys", "generate", "--kid", "k1"]).ok();
        let dup = ring
            .at(NOW, &["--json", "keys", "generate", "--kid", "k1"])
            .code(2);
        assert_eq!(dup.kind(), "usage");
        for bad in ["../escape", "a/b", ".hidden", "with space"] {
            let out = ring
                .at(NOW, &["--json", "keys", "generate", "--kid", bad])
                .code(2);
            assert_eq!(out.kind(), "usage", "{bad}");
        }
        assert_eq!(ring.list().len(), 1);
        assert!(!ring.path("escape.pem").exists());
    }

    #[test]
    fn unknown_algorithm_is_usage() {
        let ring = Ring::new();
        ring.at(NOW, &["keys", "generate", "--alg", "none"]).code(2);
        ring.at(NOW, &["keys", "generate", "--alg", "HS128"])
            .code(2);
        assert!(!ring.dir.exists(), "a usage error creates nothing");
    }

    #[test]
    fn files_are_0600_in_a_0700_dir_with_no_temp_files() {
        let ring = Ring::new();
        let ed = ring.generate("EdDSA");
        let hs = ring.generate("HS256");
        ring.rotate(NOW, &[]);
        assert_eq!(Ring::mode(&ring.dir), 0o700);
        let files = ring.files();
        for name in &files {
            assert!(!name.contains(".tmp"), "temp file left behind: {name}");
            assert_eq!(
                Ring::mode(&ring.dir.join(name)),
                0o600,
                "{name} is not 0600"
            );
        }
        assert!(files.contains(&"keyring.json".to_string()));
        assert!(files.contains(&format!("{ed}.pem")));
        assert!(files.contains(&format!("{hs}.jwk")));
    }

    #[test]
    fn creates_nested_directory_0700() {
        let ring = Ring::new();
        let nested = ring.path("a/b/keys");
        run(tollgate().current_dir(ring.tmp.path()).args([
            "--keys",
            nested.to_str().unwrap(),
            "keys",
            "generate",
        ]))
        .ok();
        assert_eq!(Ring::mode(&nested), 0o700);
    }

    #[test]
    fn tightens_an_existing_empty_directory() {
        let ring = Ring::new();
        std::fs::create_dir(&ring.dir).unwrap();
        Ring::chmod(&ring.dir, 0o755);
        ring.generate("EdDSA");
        assert_eq!(Ring::mode(&ring.dir), 0o700);
    }

    #[test]
    fn never_prints_key_material() {
        let ring = Ring::new();
        let ed = ring.at(NOW, &["keys", "generate"]).ok();
        let hs = ring.at(NOW, &["keys", "generate", "--alg", "HS512"]).ok();
        let rot = ring.at(NOW, &["keys", "rotate"]).ok();
        let rsa = ring
            .at(NOW, &["keys", "rotate", "--stage", "--alg", "RS256"])
            .ok();
        let secret = b64(&ring.hmac_secret(hs.stdout.trim()));
        let list = ring.at(NOW, &["--json", "keys", "list"]).ok();
        for out in [&ed, &hs, &rot, &rsa, &list] {
            assert!(!out.all().contains("PRIVATE KEY"), "{out:?}");
            assert!(!out.all().contains(&secret), "HMAC secret printed: {out:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// keys rotate

mod rotate {
    use super::*;

    #[test]
    fn old_key_verifies_with_tokens_valid_until_and_new_key_signs() {
        let ring = Ring::new();
        let old = ring.generate("EdDSA");
        let before = ring.mint(&[]);
        let new = ring.rotate(NOW + 100, &[]);
        assert_ne!(old, new);

        let old_entry = ring.entry(&old);
        assert_eq!(old_entry["state"], "verify");
        assert_eq!(old_entry["deactivated"], NOW + 100);
        assert_eq!(old_entry["tokens_valid_until"], NOW + 100 + 86_400);
        let new_entry = ring.entry(&new);
        assert_eq!(new_entry["state"], "active");
        assert_eq!(new_entry["activated"], NOW + 100);
        assert_eq!(new_entry["alg"], "EdDSA", "default: the active key's alg");
        assert!(new_entry.get("tokens_valid_until").is_none());

        let after = ring.mint_at(NOW + 100, &[]);
        assert_eq!(segment(&after, 0)["kid"], new.as_str());

        // A token minted before the rotation still verifies, by the verify key.
        let v = ring.verify_at(NOW + 200, &before, &[]).ok().json();
        assert_eq!(v["valid"], true);
        assert_eq!(v["header"]["kid"], old.as_str());
        assert_eq!(v["key_state"], "verify");
        ring.verify_at(NOW + 200, &after, &[]).ok();
    }

    #[test]
    fn alg_option_changes_the_algorithm() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        let new = ring.rotate(NOW, &["--alg", "ES256"]);
        assert_eq!(ring.entry(&new)["alg"], "ES256");
        let token = ring.mint(&[]);
        assert_eq!(segment(&token, 0)["alg"], "ES256");
        ring.verify(&token, &[]).ok();
    }

    #[test]
    fn stage_then_rotate_promotes_the_staged_kid() {
        let ring = Ring::new();
        let old = ring.generate("EdDSA");
        let staged = ring.rotate(NOW, &["--stage"]);
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

        let promoted = ring.rotate(NOW + 60, &[]);
        assert_eq!(promoted, staged, "rotate promotes the staged key");
        assert_eq!(ring.entry(&staged)["state"], "active");
        assert_eq!(ring.entry(&old)["state"], "verify");
        assert_eq!(ring.list().len(), 2, "no extra key was generated");
        assert_eq!(
            segment(&ring.mint_at(NOW + 60, &[]), 0)["kid"],
            staged.as_str()
        );
    }

    #[test]
    fn staged_key_of_another_alg_refuses_a_conflicting_alg() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        ring.rotate(NOW, &["--stage", "--alg", "ES256"]);
        let out = ring
            .at(NOW, &["--json", "keys", "rotate", "--alg", "EdDSA"])
            .code(2);
        assert_eq!(out.kind(), "usage");
    }

    #[test]
    fn rotate_on_a_new_keyring_creates_an_active_key() {
        let ring = Ring::new();
        let kid = ring.rotate(NOW, &[]);
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
}

// ---------------------------------------------------------------------------------------------
// keys list

mod list {
    use super::*;

    #[test]
    fn json_shape() {
        let ring = Ring::new();
        let a = ring.generate("EdDSA");
        let b = ring.rotate(NOW + 10, &[]);
        let c = ring.rotate(NOW + 20, &["--stage", "--alg", "HS256"]);
        ring.at(NOW + 30, &["keys", "retire", "--", &a]).ok();
        let v = ring.at(NOW, &["--json", "keys", "list"]).ok().json();
        assert_eq!(v["max_ttl"], 86_400);
        let keys = v["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 3);
        for k in keys {
            for field in ["kid", "alg", "state", "file", "private", "created"] {
                assert!(k.get(field).is_some(), "{field} missing in {k}");
            }
        }
        let by = |kid: &str| keys.iter().find(|k| k["kid"] == kid).unwrap();
        assert_eq!(by(&a)["state"], "retired");
        assert_eq!(by(&a)["retired"], NOW + 30);
        assert_eq!(by(&a)["tokens_valid_until"], NOW + 10 + 86_400);
        assert_eq!(by(&b)["state"], "active");
        assert_eq!(by(&b)["created"], NOW + 10);
        assert_eq!(by(&c)["state"], "next");
        assert_eq!(by(&c)["alg"], "HS256");
        assert_eq!(by(&c)["created"], NOW + 20);
    }

    #[test]
    fn human_table() {
        let ring = Ring::new();
        let a = ring.generate("EdDSA");
        let b = ring.rotate(NOW, &[]);
        let out = ring.at(NOW, &["keys", "list"]).ok();
        let mut lines = out.stdout.lines();
        let header = lines.next().unwrap();
        for col in ["KID", "ALG", "STATE", "CREATED"] {
            assert!(header.contains(col), "{header}");
        }
        let row = |kid: &str| out.stdout.lines().find(|l| l.starts_with(kid)).unwrap();
        assert!(row(&a).contains("verify"));
        assert!(row(&a).contains("2027-01-16T08:00:00Z"), "valid until");
        assert!(row(&b).contains("active"));
        assert!(row(&b).contains("2027-01-15T08:00:00Z"), "created");
    }

    #[test]
    fn empty_keyring_lists_nothing() {
        let ring = Ring::new();
        std::fs::create_dir(&ring.dir).unwrap();
        Ring::chmod(&ring.dir, 0o700);
        let v = ring.run(&["--json", "keys", "list"]).ok().json();
        assert_eq!(v["keys"], json!([]));
    }
}

// ---------------------------------------------------------------------------------------------
// keys retire

mod retire {
    use super::*;

    #[test]
    fn retired_key_rejects_its_tokens_with_a_warning() {
        let ring = Ring::new();
        let old = ring.generate("EdDSA");
        let token = ring.mint(&[]);
        ring.rotate(NOW, &[]);
        let out = ring
            .at(NOW + 60, &["--json", "keys", "retire", "--", &old])
            .ok();
        let v = out.json();
        assert_eq!(v["kid"], old.as_str());
        assert_eq!(v["state"], "retired");
        let warning = v["warning"]
            .as_str()
            .expect("warning while tokens may be live");
        assert!(warning.contains(&old), "{warning}");
        assert!(out.stderr.contains("warning"), "{}", out.stderr);

        let rejected = ring.verify_at(NOW + 60, &token, &[]).code(1);
        let v = rejected.json();
        assert_eq!(v["valid"], false);
        assert_eq!(v["error"]["kind"], "retired_kid");
        assert_eq!(v["error"]["kid"], old.as_str());
        assert_eq!(ring.entry(&old)["state"], "retired");
        assert_eq!(ring.entry(&old)["retired"], NOW + 60);
    }

    #[test]
    fn no_warning_once_every_token_has_expired() {
        let ring = Ring::new();
        let old = ring.generate("EdDSA");
        ring.rotate(NOW, &[]);
        let out = ring
            .at(NOW + 2 * 86_400, &["--json", "keys", "retire", "--", &old])
            .ok();
        assert_eq!(out.json()["warning"], Value::Null);
        assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    }

    #[test]
    fn human_output_is_the_kid() {
        let ring = Ring::new();
        let old = ring.generate("EdDSA");
        ring.rotate(NOW, &[]);
        let out = ring.at(NOW, &["keys", "retire", "--", &old]).ok();
        assert_eq!(out.stdout.trim(), old);
        assert!(out.stderr.contains("warning:"));
    }

    #[test]
    fn retiring_the_active_key_is_usage() {
        let ring = Ring::new();
        let active = ring.generate("EdDSA");
        let out = ring
            .at(NOW, &["--json", "keys", "retire", "--", &active])
            .code(2);
        assert_eq!(out.kind(), "usage");
        assert_eq!(ring.entry(&active)["state"], "active");
    }

    #[test]
    fn retiring_an_unknown_kid_is_usage() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        let out = ring.at(NOW, &["--json", "keys", "retire", "nope"]).code(2);
        assert_eq!(out.kind(), "usage");
    }

    #[test]
    fn kid_starting_with_a_dash_is_accepted_as_an_argument() {
        let ring = Ring::new();
        ring.at(NOW, &["keys", "generate", "--kid=-abc"]).ok();
        ring.rotate(NOW, &[]);
        ring.at(NOW, &["keys", "export", "-abc"]).ok();
        ring.at(NOW, &["keys", "retire", "-abc"]).ok();
    }
}

// ---------------------------------------------------------------------------------------------
// keys prune

mod prune {
    use super::*;

    #[test]
    fn removes_retired_keys_and_their_files() {
        let ring = Ring::new();
        let old = ring.generate("EdDSA");
        let token = ring.mint(&[]);
        let active = ring.rotate(NOW, &[]);
        let staged = ring.rotate(NOW, &["--stage"]);
        ring.at(NOW, &["keys", "retire", "--", &old]).ok();
        let file = ring.dir.join(format!("{old}.pem"));
        assert!(file.exists());

        let v = ring.at(NOW + 10, &["--json", "keys", "prune"]).ok().json();
        assert_eq!(v["pruned"], json!([old]));
        assert!(!file.exists(), "the key file is deleted");
        let kids: Vec<String> = ring
            .list()
            .iter()
            .map(|e| e["kid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kids, [active, staged], "only retired keys go");
        // Its tokens are now from an unknown key.
        let out = ring.verify_at(NOW + 10, &token, &[]).code(1);
        assert_eq!(out.kind(), "unknown_kid");
    }

    #[test]
    fn older_than_is_measured_from_now() {
        let ring = Ring::new();
        let old = ring.generate("EdDSA");
        ring.rotate(NOW, &[]);
        ring.at(NOW, &["keys", "retire", "--", &old]).ok();

        let day = 86_400;
        let v = ring
            .at(
                NOW + day,
                &["--json", "keys", "prune", "--older-than", "2d"],
            )
            .ok()
            .json();
        assert_eq!(v["pruned"], json!([]));
        assert_eq!(ring.entry(&old)["state"], "retired");

        let out = ring
            .at(NOW + 3 * day, &["keys", "prune", "--older-than", "2d"])
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
        ring.at(NOW, &["keys", "import", &file]).ok();
        ring.verify(&token, &[]).ok();
        let stored = ring.dir.join(format!("{kid}.pub.jwk"));
        assert!(stored.exists());
        ring.at(NOW, &["keys", "retire", "--", &kid]).ok();
        assert_eq!(ring.verify(&token, &[]).code(1).kind(), "retired_kid");
        let v = ring.at(NOW, &["--json", "keys", "prune"]).ok().json();
        assert_eq!(v["pruned"], json!([kid]));
        assert!(!stored.exists());
        assert_eq!(ring.verify(&token, &[]).code(1).kind(), "unknown_kid");
    }

    #[test]
    fn readers_never_fail_while_prune_runs() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let ring = Ring::new();
        ring.generate("EdDSA");
        // More files to read before the newest one widens the window.
        for _ in 0..6 {
            ring.generate("RS256");
        }
        let token = ring.mint(&[]);
        let done = AtomicBool::new(false);
        let failures = std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..40 {
                    let kid = ring.generate("EdDSA");
                    ring.at(NOW, &["keys", "retire", "--", &kid]).ok();
                    ring.at(NOW, &["keys", "prune"]).ok();
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
            .at(NOW, &["--json", "keys", "prune", "--older-than", "soon"])
            .code(2);
        assert_eq!(out.kind(), "usage");
    }

    #[test]
    fn nothing_to_prune() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        let v = ring.at(NOW, &["--json", "keys", "prune"]).ok().json();
        assert_eq!(v, json!({"pruned": []}));
    }
}

// ---------------------------------------------------------------------------------------------
// keys jwks

mod jwks {
    use super::*;

    #[test]
    fn only_public_next_active_and_verify_asymmetric_keys() {
        let ring = Ring::new();
        let verify = ring.generate("EdDSA");
        let active = ring.rotate(NOW, &["--alg", "RS256"]);
        let retired = ring.generate("ES384");
        ring.at(NOW, &["keys", "retire", "--", &retired]).ok();
        let hs = ring.generate("HS256");
        let next = ring.generate("ES256");

        let out = ring.run(&["keys", "jwks"]).ok();
        let v = out.json();
        let keys = v["keys"].as_array().expect("a JWK Set");
        let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
        kids.sort_unstable();
        let mut want = vec![verify.as_str(), active.as_str(), next.as_str()];
        want.sort_unstable();
        assert_eq!(kids, want);
        assert!(!out.stdout.contains(&hs));
        assert!(!out.stdout.contains(&retired));
        for k in keys {
            let obj = k.as_object().unwrap();
            assert!(!obj.contains_key("d"), "private member d: {k}");
            assert!(!obj.contains_key("k"), "symmetric key: {k}");
            for private in ["p", "q", "dp", "dq", "qi"] {
                assert!(!obj.contains_key(private), "{private}: {k}");
            }
            assert_ne!(k["kty"], "oct");
            assert_eq!(k["use"], "sig");
            assert!(k["alg"].is_string());
        }
        assert!(!out.stdout.contains("PRIVATE"));
    }

    #[test]
    fn only_hmac_keys_give_an_empty_set() {
        let ring = Ring::new();
        ring.generate("HS256");
        let v = ring.run(&["keys", "jwks"]).ok().json();
        assert_eq!(v, json!({"keys": []}));
    }
}

// ---------------------------------------------------------------------------------------------
// keys import

mod import {
    use super::*;

    #[test]
    fn spki_pem_from_another_keyring() {
        let issuer = Ring::new();
        let kid = issuer.generate("EdDSA");
        let token = issuer.mint(&[]);
        let pem = issuer.export(&kid, &["--format", "pem"]);

        let ring = Ring::new();
        ring.generate("EdDSA");
        let unknown = ring.verify(&token, &[]).code(1);
        assert_eq!(unknown.kind(), "unknown_kid");

        let file = ring.write("issuer.pem", &pem);
        let v = ring
            .at(NOW, &["--json", "keys", "import", &file])
            .ok()
            .json();
        let imported = v["imported"].as_array().unwrap();
        assert_eq!(imported.len(), 1);
        assert_eq!(imported[0]["kid"], kid.as_str(), "the thumbprint kid");
        assert_eq!(imported[0]["state"], "verify");
        assert_eq!(imported[0]["private"], false);
        assert_eq!(imported[0]["alg"], "EdDSA");

        let v = ring.verify(&token, &[]).ok().json();
        assert_eq!(v["valid"], true);
        assert_eq!(v["key_state"], "verify");
        assert_eq!(Ring::mode(&ring.dir.join(format!("{kid}.pub.jwk"))), 0o600);
    }

    #[test]
    fn jwk_from_another_keyring() {
        let issuer = Ring::new();
        issuer
            .at(
                NOW,
                &["keys", "generate", "--alg", "ES256", "--kid", "issuer-es"],
            )
            .ok();
        let token = issuer.mint(&[]);
        let jwk = issuer.export("issuer-es", &[]);

        let ring = Ring::new();
        let file = ring.write("issuer.jwk", &jwk);
        // Import creates the keyring when needed; the output is the kid.
        let out = ring.at(NOW, &["keys", "import", &file]).ok();
        assert_eq!(out.stdout.trim(), "issuer-es");
        assert_eq!(ring.entry("issuer-es")["alg"], "ES256");
        ring.verify(&token, &[]).ok();
    }

    #[test]
    fn jwk_set_from_another_keyring() {
        let issuer = Ring::new();
        let a = issuer.generate("EdDSA");
        let early = issuer.mint(&[]);
        let b = issuer.rotate(NOW, &["--alg", "RS256"]);
        let late = issuer.mint(&[]);
        let jwks = issuer.run(&["keys", "jwks"]).ok().stdout;

        let ring = Ring::new();
        ring.generate("EdDSA");
        let file = ring.write("jwks.json", &jwks);
        let v = ring
            .at(NOW, &["--json", "keys", "import", &file])
            .ok()
            .json();
        let mut kids: Vec<&str> = v["imported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kid"].as_str().unwrap())
            .collect();
        kids.sort_unstable();
        let mut want = [a.as_str(), b.as_str()];
        want.sort_unstable();
        assert_eq!(kids, want);
        assert_eq!(ring.entry(&b)["alg"], "RS256");
        ring.verify(&early, &[]).ok();
        ring.verify(&late, &[]).ok();
        assert_eq!(ring.list().len(), 3);
    }

    #[test]
    fn from_stdin() {
        let issuer = Ring::new();
        let kid = issuer.generate("ES384");
        let token = issuer.mint(&[]);
        let jwk = issuer.export(&kid, &[]);
        let ring = Ring::new();
        ring.stdin(NOW, &["keys", "import", "-"], &jwk).ok();
        ring.verify(&token, &[]).ok();
    }

    #[test]
    fn kid_option_renames_and_duplicates_are_usage() {
        let issuer = Ring::new();
        let kid = issuer.generate("EdDSA");
        let pem = issuer.export(&kid, &["--format", "pem"]);
        let ring = Ring::new();
        let file = ring.write("k.pem", &pem);
        let out = ring
            .at(NOW, &["keys", "import", &file, "--kid", "partner"])
            .ok();
        assert_eq!(out.stdout.trim(), "partner");
        let dup = ring
            .at(
                NOW,
                &["--json", "keys", "import", &file, "--kid", "partner"],
            )
            .code(2);
        assert_eq!(dup.kind(), "usage");
    }

    #[test]
    fn kid_from_the_input_cannot_escape_the_directory() {
        let issuer = Ring::new();
        let kid = issuer.generate("EdDSA");
        let mut jwk: Value = serde_json::from_str(&issuer.export(&kid, &[])).unwrap();
        let ring = Ring::new();
        ring.generate("EdDSA");
        for evil in ["../evil", "a/b", ".hidden", ""] {
            jwk["kid"] = json!(evil);
            let file = ring.write("evil.jwk", jwk.to_string());
            let out = ring.at(NOW, &["--json", "keys", "import", &file]).code(2);
            assert_eq!(out.kind(), "usage", "{evil:?}");
        }
        assert!(!ring.path("evil.pub.jwk").exists());
        assert_eq!(ring.list().len(), 1);
    }

    #[test]
    fn private_material_is_refused() {
        let issuer = Ring::new();
        let ed = issuer.generate("EdDSA");
        let hs = issuer.generate("HS256");
        let private_pem = issuer.export(&ed, &["--private"]);
        assert!(private_pem.contains("PRIVATE KEY"));
        let private_jwk = issuer.export(&ed, &["--private", "--format", "jwk"]);
        assert!(private_jwk.contains("\"d\""));
        let secret_jwk = issuer.export(&hs, &["--private"]);
        assert!(secret_jwk.contains("\"k\""));
        let public_jwk: Value = serde_json::from_str(&issuer.export(&ed, &[])).unwrap();
        let private_value: Value = serde_json::from_str(&private_jwk).unwrap();
        let pem_body = private_pem.lines().nth(1).unwrap().to_string();
        let d = private_value["d"].as_str().unwrap().to_string();
        let secret_value: Value = serde_json::from_str(&secret_jwk).unwrap();
        let k = secret_value["k"].as_str().unwrap().to_string();
        let set_with_private = json!({"keys": [public_jwk, private_value]}).to_string();

        let ring = Ring::new();
        ring.generate("EdDSA");
        let before = ring.files();
        // A private key or secret given to import is a usage error; a JWK Set carrying a
        // private member is a leaked set, refused as bad_key like everywhere else (issue 10).
        for (name, contents, code, kind) in [
            ("private.pem", private_pem.as_str(), 2, "usage"),
            ("private.jwk", private_jwk.as_str(), 2, "usage"),
            ("secret.jwk", secret_jwk.as_str(), 2, "usage"),
            ("set.json", set_with_private.as_str(), 3, "bad_key"),
        ] {
            let file = ring.write(name, contents);
            let out = ring
                .at(NOW, &["--json", "keys", "import", &file])
                .code(code);
            assert_eq!(out.kind(), kind, "{name}");
            assert!(
                !out.all().contains(&pem_body),
                "{name}: key material echoed"
            );
            assert!(!out.all().contains(&d), "{name}: key material echoed");
            assert!(!out.all().contains(&k), "{name}: key material echoed");
        }
        assert_eq!(ring.files(), before, "nothing was written");
        assert_eq!(ring.list().len(), 1);
    }

    #[test]
    fn unreadable_input() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        let missing = ring.path("missing.pem");
        let out = ring
            .at(
                NOW,
                &["--json", "keys", "import", missing.to_str().unwrap()],
            )
            .code(2);
        assert_eq!(out.kind(), "usage");
        let garbage = ring.write("garbage.txt", "not a key");
        let out = ring
            .at(NOW, &["--json", "keys", "import", &garbage])
            .code(3);
        assert_eq!(out.kind(), "bad_key");
    }
}

// ---------------------------------------------------------------------------------------------
// keys export

mod export {
    use super::*;

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
        let explicit: Value =
            serde_json::from_str(&ring.export(&kid, &["--format", "jwk"])).unwrap();
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
        ring.at(NOW, &["keys", "import", &file]).ok();
        let out = ring
            .run(&["--json", "keys", "export", "--private", "--", &kid])
            .code(2);
        assert_eq!(out.kind(), "usage");
        ring.export(&kid, &["--format", "pem"]);
    }
}

// ---------------------------------------------------------------------------------------------
// keyring failures: exit 3, kind bad_key

mod keyring_failures {
    use super::*;

    fn assert_bad_key(out: Out, names: &Path) {
        let out = out.code(3);
        assert_eq!(out.kind(), "bad_key");
        let message = out.json()["error"]["message"].as_str().unwrap().to_string();
        let name = names.to_str().unwrap();
        assert!(message.contains(name), "{message:?} does not name {name}");
        assert!(out.stderr.contains(name), "stderr does not name {name}");
    }

    /// Every command that reads the keyring, with a valid token for verify.
    fn keyring_commands(ring: &Ring, token: &str) -> Vec<Out> {
        vec![
            ring.at(NOW, &["--json", "keys", "list"]),
            ring.at(NOW, &["--json", "mint", "--sub", "alice"]),
            ring.verify(token, &[]),
            ring.at(NOW, &["--json", "keys", "jwks"]),
            ring.at(NOW, &["--json", "keys", "generate"]),
            ring.at(NOW, &["--json", "keys", "rotate"]),
        ]
    }

    #[test]
    fn key_file_0644_is_refused() {
        let ring = Ring::new();
        let kid = ring.generate("EdDSA");
        let token = ring.mint(&[]);
        let file = ring.dir.join(format!("{kid}.pem"));
        Ring::chmod(&file, 0o644);
        for out in keyring_commands(&ring, &token) {
            assert_bad_key(out, &file);
        }
        Ring::chmod(&file, 0o600);
        ring.verify(&token, &[]).ok();
    }

    #[test]
    fn hmac_key_file_0640_is_refused() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        let hs = ring.generate("HS256");
        let file = ring.dir.join(format!("{hs}.jwk"));
        Ring::chmod(&file, 0o640);
        assert_bad_key(ring.at(NOW, &["--json", "keys", "list"]), &file);
    }

    #[test]
    fn directory_0755_is_refused() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        let token = ring.mint(&[]);
        Ring::chmod(&ring.dir, 0o755);
        for out in keyring_commands(&ring, &token) {
            assert_bad_key(out, &ring.dir);
        }
        assert_eq!(
            Ring::mode(&ring.dir),
            0o755,
            "an existing keyring is not re-moded"
        );
    }

    #[test]
    fn corrupt_key_file() {
        let ring = Ring::new();
        let kid = ring.generate("EdDSA");
        let token = ring.mint(&[]);
        let file = ring.dir.join(format!("{kid}.pem"));
        std::fs::write(
            &file,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        Ring::chmod(&file, 0o600);
        for out in keyring_commands(&ring, &token) {
            assert_bad_key(out, &file);
        }
        std::fs::write(&file, "garbage").unwrap();
        assert_bad_key(ring.verify(&token, &[]), &file);
    }

    #[test]
    fn symlinked_key_file_is_refused() {
        let ring = Ring::new();
        let kid = ring.generate("EdDSA");
        let file = ring.dir.join(format!("{kid}.pem"));
        let elsewhere = ring.path("elsewhere.pem");
        std::fs::rename(&file, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
        assert_bad_key(ring.at(NOW, &["--json", "keys", "list"]), &file);
    }

    #[test]
    fn missing_key_file() {
        let ring = Ring::new();
        let kid = ring.generate("EdDSA");
        let file = ring.dir.join(format!("{kid}.pem"));
        std::fs::remove_file(&file).unwrap();
        assert_bad_key(ring.at(NOW, &["--json", "keys", "list"]), &file);
    }

    #[test]
    fn corrupt_manifest() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        let token = ring.mint(&[]);
        let manifest = ring.dir.join("keyring.json");
        for garbage in [
            "{not json",
            r#"{"version":1,"max_ttl":86400,"keys":[{"kid":1}]}"#,
        ] {
            std::fs::write(&manifest, garbage).unwrap();
            for out in keyring_commands(&ring, &token) {
                assert_bad_key(out, &manifest);
            }
        }
    }

    #[test]
    fn inconsistent_manifest_is_bad_key() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        let token = ring.mint(&[]);
        let manifest = ring.dir.join("keyring.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        let key = v["keys"][0].clone();
        v["keys"].as_array_mut().unwrap().push(key);
        std::fs::write(&manifest, v.to_string()).unwrap();
        let out = ring.verify(&token, &[]).code(3);
        assert_eq!(out.kind(), "bad_key");
    }

    #[test]
    fn missing_keyring_directory() {
        let ring = Ring::new();
        let other = Ring::new();
        other.generate("EdDSA");
        let token = other.mint(&[]);
        for out in [
            ring.at(NOW, &["--json", "keys", "list"]),
            ring.at(NOW, &["--json", "mint", "--sub", "alice"]),
            ring.verify(&token, &[]),
            ring.at(NOW, &["--json", "keys", "jwks"]),
            ring.at(NOW, &["--json", "keys", "retire", "k"]),
            ring.at(NOW, &["--json", "keys", "prune"]),
            ring.at(NOW, &["--json", "keys", "export", "k"]),
        ] {
            assert_bad_key(out, &ring.dir);
        }
        assert!(!ring.dir.exists(), "reading commands create nothing");
    }

    #[test]
    fn keyring_path_that_is_a_file() {
        let ring = Ring::new();
        std::fs::write(&ring.dir, "not a dir").unwrap();
        assert_bad_key(ring.at(NOW, &["--json", "keys", "list"]), &ring.dir);
    }

    #[test]
    fn mint_without_an_active_key() {
        let issuer = Ring::new();
        let kid = issuer.generate("EdDSA");
        let ring = Ring::new();
        let file = ring.write("k.jwk", issuer.export(&kid, &[]));
        ring.at(NOW, &["keys", "import", &file]).ok();
        let out = ring.at(NOW, &["--json", "mint", "--sub", "alice"]).code(3);
        assert_eq!(out.kind(), "bad_key");
    }

    #[test]
    fn human_error_goes_to_stderr_only() {
        let ring = Ring::new();
        let out = ring.at(NOW, &["keys", "list"]).code(3);
        assert_eq!(out.stdout, "");
        assert!(out.stderr.starts_with("tollgate:"), "{}", out.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// mint

mod mint {
    use super::*;

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
        assert_eq!(c["iat"], NOW);
        assert_eq!(c["nbf"], NOW);
        assert_eq!(c["exp"], NOW + 15 * 60, "default ttl 15m");
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
            .at(NOW, &["--json", "mint", "--sub", "bob", "--sid", "s9"])
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
        assert_eq!(c["exp"], NOW + 3600);
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
        assert_eq!(c["exp"], NOW + 86_400);
        let c = segment(&ring.mint(&["--ttl", "90"]), 1);
        assert_eq!(c["exp"], NOW + 90, "a bare number is seconds");
        let c = segment(&ring.mint(&["--ttl", "1h30m"]), 1);
        assert_eq!(c["exp"], NOW + 5400);
        for bad in ["25h", "2d", "24h1s", "0s", "0"] {
            let out = ring
                .at(NOW, &["--json", "mint", "--sub", "a", "--ttl", bad])
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
                .at(NOW, &["--json", "mint", "--sub", "a", &ttl])
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
                .at(NOW, &["--json", "mint", "--sub", "a", "--claim", &claim])
                .code(2);
            assert_eq!(out.kind(), "usage", "--claim {claim}");
            let claims = format!(r#"{{"{name}":1}}"#);
            let out = ring
                .at(NOW, &["--json", "mint", "--sub", "a", "--claims", &claims])
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
            let out = ring.at(NOW, &all).code(2);
            assert_eq!(out.kind(), "usage", "{args:?}");
        }
        let out = ring.at(NOW, &["--json", "mint", "--sub", ""]).code(2);
        assert_eq!(out.kind(), "usage", "empty subject");
        // --sub is required (a clap usage error).
        ring.at(NOW, &["mint"]).code(2);
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
                NOW,
                &["--json", "mint", "--sub", "a", &format!("--kid={next}")],
            )
            .code(2);
        assert_eq!(out.kind(), "usage");
        let out = ring
            .at(NOW, &["--json", "mint", "--sub", "a", "--kid=nope"])
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
            .args(["--now", &NOW.to_string(), "mint", "--sub", "alice"]))
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
            .args(["--now", &NOW.to_string(), "--json", "verify", &token]))
        .ok();
        assert_eq!(verified.json()["valid"], true);
        // Without them the audience is unexpected.
        assert_eq!(ring.verify(&token, &[]).code(1).kind(), "bad_audience");
        let wrong = run(ring
            .cmd()
            .env("TOLLGATE_ISSUER", "https://other.example")
            .env("TOLLGATE_AUDIENCE", "env-api")
            .args(["--now", &NOW.to_string(), "--json", "verify", &token]))
        .code(1);
        assert_eq!(wrong.kind(), "bad_issuer");

        // Explicit options win over the environment; --issuer/--audience are the same defaults.
        let out = run(ring
            .cmd()
            .env("TOLLGATE_ISSUER", "https://env.example")
            .env("TOLLGATE_AUDIENCE", "env-api")
            .args([
                "--now",
                &NOW.to_string(),
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
            .args(["--now", &NOW.to_string(), "mint", "--sub", "alice"]))
        .ok();
        ring.verify(out.stdout.trim(), &[]).ok();
        // The default keyring is ./keys.
        let out = run(tollgate().current_dir(ring.tmp.path()).args([
            "--now",
            &NOW.to_string(),
            "mint",
            "--sub",
            "alice",
        ]))
        .ok();
        ring.verify(out.stdout.trim(), &[]).ok();
    }
}

// ---------------------------------------------------------------------------------------------
// verify

mod verify {
    use super::*;

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
        let out = ring.at(NOW, &["verify", &token]).ok();
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
        let out = ring.stdin(NOW, &["--json", "verify", "-"], &piped).ok();
        assert_eq!(out.json()["valid"], true);
        // No argument reads stdin too.
        ring.stdin(NOW, &["verify"], &piped).ok();
        // @FILE.
        let file = ring.write("token.jwt", format!("{token}\n"));
        let out = ring
            .at(NOW, &["--json", "verify", &format!("@{file}")])
            .ok();
        assert_eq!(out.json()["claims"]["jti"], segment(&token, 1)["jti"]);
    }

    #[test]
    fn mint_piped_into_verify() {
        let ring = ring();
        let mut mint = std::process::Command::new(bin())
            .args(["--keys", ring.dir.to_str().unwrap(), "--now", "1800000000"])
            .args(["mint", "--sub", "alice"])
            .env_remove("TOLLGATE_KEYS")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let verify = std::process::Command::new(bin())
            .args(["--keys", ring.dir.to_str().unwrap(), "--now", "1800000000"])
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
        let out = ring.stdin(NOW, &["--json", "verify", "-"], "  \n").code(2);
        assert_eq!(out.kind(), "usage");
        let missing = ring.path("nope.jwt");
        let out = ring
            .at(
                NOW,
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
        let out = ring.verify_at(NOW + 3600, &token, &[]).code(1);
        let v = out.json();
        assert_eq!(v["valid"], false);
        let error = v["error"].as_object().expect("error object");
        assert_eq!(error["kind"], "expired");
        assert!(!error["message"].as_str().unwrap().is_empty());
        assert_eq!(error["exp"], NOW + 900);
        assert_eq!(error["now"], NOW + 3600);
        assert!(v.get("errors").is_none(), "one failure, no errors array");
        assert!(out.stderr.contains("tollgate:"), "reason on stderr too");
    }

    #[test]
    fn human_rejection_has_empty_stdout() {
        let ring = ring();
        let token = ring.mint(&[]);
        let out = ring.at(NOW + 3600, &["verify", &token]).code(1);
        assert_eq!(out.stdout, "");
        assert!(out.stderr.contains("expired"), "{}", out.stderr);
    }

    #[test]
    fn multiple_failures_report_all_first_is_error() {
        let ring = ring();
        let token = ring.mint(&["--aud", "api", "--iss", "me"]);
        // Before nbf and iat, wrong audience and issuer.
        let v = ring
            .verify_at(NOW - 3600, &token, &["--aud", "web", "--iss", "you"])
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
            let inspected = ring.at(NOW, &["--json", "inspect", &case]).code(1);
            assert_eq!(inspected.kind(), "malformed");
            assert_eq!(ring.verify(&case, &[]).code(1).kind(), "malformed");
        }
    }

    #[test]
    fn oversized_token_from_stdin() {
        let ring = ring();
        let out = ring
            .stdin(NOW, &["--json", "verify", "-"], &"a".repeat(20_000))
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
        let rs = issuer.rotate(NOW, &["--alg", "PS256"]);
        let rs_token = issuer.mint(&[]);
        let hs = issuer.rotate(NOW, &["--alg", "HS384"]);
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
        ring.rotate(NOW, &[]);
        ring.at(NOW, &["keys", "retire", "--", &old]).ok();
        let out = ring.verify(&token, &[]).code(1);
        assert_eq!(out.kind(), "retired_kid");
    }

    #[test]
    fn expired_and_leeway() {
        let ring = ring();
        let token = ring.mint(&[]);
        let exp = NOW + 900;
        // Default leeway 30s.
        ring.verify_at(exp + 30, &token, &[]).ok();
        let v = ring.verify_at(exp + 31, &token, &[]).code(1).json();
        assert_eq!(v["error"]["kind"], "expired");
        // --leeway.
        ring.verify_at(exp + 100, &token, &["--leeway", "2m"]).ok();
        assert_eq!(
            ring.verify_at(exp + 10, &token, &["--leeway", "5s"])
                .code(1)
                .kind(),
            "expired"
        );
        ring.verify_at(exp, &token, &["--leeway", "0"]).ok();
        assert_eq!(
            ring.verify_at(exp + 1, &token, &["--leeway", "0s"])
                .code(1)
                .kind(),
            "expired"
        );
    }

    #[test]
    fn not_yet_valid_and_issued_in_future() {
        let ring = ring();
        let token = ring.mint(&[]);
        ring.verify_at(NOW - 30, &token, &[]).ok();
        let v = ring.verify_at(NOW - 31, &token, &[]).code(1).json();
        assert_eq!(v["error"]["kind"], "not_yet_valid");
        assert_eq!(v["error"]["nbf"], NOW);
        assert_eq!(v["errors"][1]["kind"], "issued_in_future");
        ring.verify_at(NOW - 100, &token, &["--leeway", "100s"])
            .ok();
    }

    #[test]
    fn issued_in_future_alone() {
        let (ring, kid, secret) = hmac_ring();
        let mut c = claims();
        c.as_object_mut().unwrap().remove("nbf");
        c["iat"] = json!(NOW + 3600);
        let token = hmac_token("HS256", &secret, &header(&kid), &c);
        let v = ring.verify(&token, &[]).code(1).json();
        assert_eq!(v["error"]["kind"], "issued_in_future");
        assert_eq!(v["error"]["iat"], NOW + 3600);
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
        c["exp"] = json!((NOW + 900).to_string());
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
        ring.at(NOW, &["verify", &token, "--bogus"]).code(2);
        ring.at(NOW, &["verify", &token, "--alg", "none"]).code(2);
        ring.at(NOW, &["verify", &token, "--alg", "RS1"]).code(2);
        let out = ring
            .at(NOW, &["--json", "verify", &token, "--leeway", "soon"])
            .code(2);
        assert_eq!(out.kind(), "usage");
        assert!(
            out.json().get("valid").is_none(),
            "a usage error is not a verdict"
        );
        ring.at(NOW, &["verify", &token, "--leeway", "-5s"]).code(2);
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
            let out = ring.at(NOW, &args).code(2);
            assert_eq!(out.kind(), "usage", "{args:?}");
        }
    }

    #[test]
    fn malformed_store_url_is_usage() {
        let ring = ring();
        let token = ring.mint(&[]);
        let out = ring
            .at(NOW, &["--json", "--store", "bogus://x", "verify", &token])
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
            (token.clone(), ring.verify_at(NOW + 3600, &token, &[])),
            (token.clone(), ring.at(NOW, &["verify", &token])),
            (token.clone(), ring.verify(&token, &["--aud", "web"])),
            (padded.clone(), ring.verify(&padded, &[])),
            (padded.clone(), ring.at(NOW, &["inspect", &padded])),
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
}

// ---------------------------------------------------------------------------------------------
// inspect

mod inspect {
    use super::*;

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
}

// ---------------------------------------------------------------------------------------------
// global options, help, version, completions, output hygiene

mod global {
    use super::*;

    #[test]
    fn options_before_and_after_the_command_are_the_same() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        ring.rotate(NOW, &[]);
        let token = ring.mint(&["--aud", "api", "--iss", "me"]);
        let keys = ring.dir.to_str().unwrap();
        let now = (NOW + 10).to_string();
        let pairs: [(Vec<&str>, Vec<&str>); 4] = [
            (
                vec!["--keys", keys, "--json", "--now", &now, "keys", "list"],
                vec!["keys", "list", "--json", "--now", &now, "--keys", keys],
            ),
            (
                vec![
                    "--json",
                    "--keys",
                    keys,
                    "--now",
                    &now,
                    "--issuer",
                    "me",
                    "--audience",
                    "api",
                    "verify",
                    &token,
                ],
                vec![
                    "verify",
                    &token,
                    "--audience",
                    "api",
                    "--issuer",
                    "me",
                    "--now",
                    &now,
                    "--keys",
                    keys,
                    "--json",
                ],
            ),
            (
                vec!["--keys", keys, "--json", "--now", &now, "verify", &token],
                vec!["verify", &token, "--keys", keys, "--json", "--now", &now],
            ),
            (
                vec!["--json", "--now", &now, "inspect", &token],
                vec!["inspect", &token, "--now", &now, "--json"],
            ),
        ];
        for (before, after) in pairs {
            let a = run(tollgate().current_dir(ring.tmp.path()).args(&before));
            let b = run(tollgate().current_dir(ring.tmp.path()).args(&after));
            assert_eq!(a.code, b.code, "{before:?} vs {after:?}");
            assert_eq!(a.stdout, b.stdout, "{before:?} vs {after:?}");
            assert_eq!(a.stderr, b.stderr, "{before:?} vs {after:?}");
        }
        // Global options after a nested command too.
        let a = run(tollgate().args(["--keys", keys, "--json", "keys", "jwks"])).ok();
        let b = run(tollgate().args(["keys", "jwks", "--keys", keys, "--json"])).ok();
        assert_eq!(a.stdout, b.stdout);
    }

    #[test]
    fn help_ends_with_exit_status() {
        let out = run(tollgate().arg("--help")).ok();
        let text = out.stdout.trim_end();
        let at = text.rfind("EXIT STATUS").expect("EXIT STATUS paragraph");
        let paragraph = &text[at..];
        for code in ["0", "1", "2", "3"] {
            assert!(
                paragraph.lines().any(|l| l.trim_start().starts_with(code)),
                "exit code {code} in {paragraph}"
            );
        }
        assert!(
            !paragraph.contains("\n\n"),
            "EXIT STATUS is the last paragraph"
        );
        for command in ["keys", "mint", "inspect", "verify", "completions"] {
            assert!(text.contains(command), "{command}");
        }
        for option in [
            "--keys",
            "--store",
            "--json",
            "--now",
            "--issuer",
            "--audience",
        ] {
            assert!(text.contains(option), "{option}");
        }
        run(tollgate().arg("-h")).ok();
        run(tollgate().args(["help", "verify"])).ok();
    }

    #[test]
    fn subcommand_help() {
        let out = run(tollgate().args(["verify", "--help"])).ok();
        assert!(out.stdout.contains("--leeway"));
        assert!(out.stdout.contains("30s"), "the default leeway is stated");
        for cmd in [
            vec!["keys", "--help"],
            vec!["keys", "generate", "--help"],
            vec!["mint", "--help"],
            vec!["inspect", "--help"],
        ] {
            run(tollgate().args(&cmd)).ok();
        }
    }

    #[test]
    fn version() {
        let out = run(tollgate().arg("--version")).ok();
        assert!(
            out.stdout.contains(env!("CARGO_PKG_VERSION")),
            "{}",
            out.stdout
        );
        assert!(out.stdout.starts_with("tollgate"));
    }

    #[test]
    fn completions() {
        tollgate()
            .args(["completions", "bash"])
            .assert()
            .success()
            .stdout(
                predicate::str::contains("_tollgate").and(predicate::str::contains("complete")),
            );
        for shell in ["zsh", "fish"] {
            let out = run(tollgate().args(["completions", shell])).ok();
            assert!(out.stdout.contains("tollgate"), "{shell}");
        }
        run(tollgate().args(["completions", "cmd.exe"])).code(2);
    }

    #[test]
    fn no_ansi_escapes_when_piped() {
        let ring = Ring::new();
        let old = ring.generate("EdDSA");
        let token = ring.mint(&[]);
        ring.rotate(NOW, &[]);
        // The human output is styled on a terminal (forced here), so the check below means
        // something.
        let forced = run(ring.cmd().env("CLICOLOR_FORCE", "1").args(["keys", "list"])).ok();
        assert!(forced.stdout.contains('\x1b'), "styled on a terminal");
        for no_color in [false, true] {
            let with = |args: &[&str]| {
                let mut cmd = ring.cmd();
                cmd.arg("--now").arg(NOW.to_string()).args(args);
                if no_color {
                    cmd.env("NO_COLOR", "1");
                }
                run(&mut cmd)
            };
            let outs = [
                with(&["keys", "list"]),
                with(&["inspect", &token]),
                with(&["verify", &token]),
                with(&["verify", &flip_signature(&token)]),
                with(&["keys", "generate"]),
                with(&["keys", "retire", "--", &old]),
                with(&["keys", "list"]),
                with(&["keys", "prune"]),
                with(&["verify", "garbage"]),
                with(&["--help"]),
            ];
            for out in outs {
                assert!(!out.stdout.contains('\x1b'), "ANSI in stdout: {out:?}");
                assert!(!out.stderr.contains('\x1b'), "ANSI in stderr: {out:?}");
            }
        }
    }

    #[test]
    fn json_outputs_are_single_documents() {
        let ring = Ring::new();
        ring.generate("EdDSA");
        let token = ring.mint(&[]);
        for args in [
            vec!["--json", "keys", "list"],
            vec!["--json", "keys", "jwks"],
            vec!["--json", "keys", "prune"],
            vec!["--json", "mint", "--sub", "a"],
            vec!["--json", "inspect", &token],
            vec!["--json", "verify", &token],
            vec!["--json", "verify", "garbage"],
        ] {
            let out = ring.at(NOW, &args);
            assert!(out.json().is_object(), "{args:?}");
        }
    }
}
