//! `tollgate keys generate`.

use crate::common::{Ring, b64, now, run, segment, tollgate};

const ALL_ALGS: [&str; 12] = [
    "EdDSA", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "HS256",
    "HS384", "HS512",
];

/// Generates a key of `alg` in a fresh keyring, mints with it and verifies the token.
fn round_trip(ring: &Ring, alg: &str) {
    let generated = ring
        .at(now(), &["--json", "keys", "generate", "--alg", alg])
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
    let out = ring.at(now(), &["keys", "generate"]).ok();
    let kid = out.stdout.trim();
    assert!(!kid.is_empty());
    assert_eq!(out.stdout.lines().count(), 1, "stdout is just the kid");
    let entry = ring.entry(kid);
    assert_eq!(entry["alg"], "EdDSA");
    assert_eq!(entry["created"], now());
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
        .at(now(), &["--json", "keys", "generate", "--alg", "es256"])
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
            now(),
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
    assert_eq!(v["created"], now());
    assert_eq!(v["activated"], now());
}

#[test]
fn kid_option_and_its_errors() {
    let ring = Ring::new();
    ring.at(now(), &["keys", "generate", "--kid", "k1"]).ok();
    let dup = ring
        .at(now(), &["--json", "keys", "generate", "--kid", "k1"])
        .code(2);
    assert_eq!(dup.kind(), "usage");
    for bad in ["../escape", "a/b", ".hidden", "with space"] {
        let out = ring
            .at(now(), &["--json", "keys", "generate", "--kid", bad])
            .code(2);
        assert_eq!(out.kind(), "usage", "{bad}");
    }
    assert_eq!(ring.list().len(), 1);
    assert!(!ring.path("escape.pem").exists());
}

#[test]
fn unknown_algorithm_is_usage() {
    let ring = Ring::new();
    ring.at(now(), &["keys", "generate", "--alg", "none"])
        .code(2);
    ring.at(now(), &["keys", "generate", "--alg", "HS128"])
        .code(2);
    assert!(!ring.dir.exists(), "a usage error creates nothing");
}

#[test]
fn files_are_0600_in_a_0700_dir_with_no_temp_files() {
    let ring = Ring::new();
    let ed = ring.generate("EdDSA");
    let hs = ring.generate("HS256");
    ring.rotate(now(), &[]);
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
    let ed = ring.at(now(), &["keys", "generate"]).ok();
    let hs = ring.at(now(), &["keys", "generate", "--alg", "HS512"]).ok();
    let rot = ring.at(now(), &["keys", "rotate"]).ok();
    let rsa = ring
        .at(now(), &["keys", "rotate", "--stage", "--alg", "RS256"])
        .ok();
    let secret = b64(&ring.hmac_secret(hs.stdout.trim()));
    let list = ring.at(now(), &["--json", "keys", "list"]).ok();
    for out in [&ed, &hs, &rot, &rsa, &list] {
        assert!(!out.all().contains("PRIVATE KEY"), "{out:?}");
        assert!(!out.all().contains(&secret), "HMAC secret printed: {out:?}");
    }
}
