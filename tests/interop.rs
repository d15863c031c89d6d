//! Tokens from an independent implementation (PyJWT) verify in tollgate, and tollgate's verify
//! in PyJWT, for each algorithm family. Needs `python3` with `pip install pyjwt cryptography`
//! (`.ci/run` installs them); `TOLLGATE_TEST_SKIP_PYTHON=1` skips explicitly, saying so.

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tollgate::{Algorithm, Clock, ExportFormat, MintOptions, VerifyOptions, mint, verify};

use common::TempKeyring;

fn python_ready() -> bool {
    if std::env::var_os("TOLLGATE_TEST_SKIP_PYTHON").is_some() {
        eprintln!("skipped: TOLLGATE_TEST_SKIP_PYTHON is set");
        return false;
    }
    let ok = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with PyJWT is required for the interop tests: run `pip install pyjwt cryptography` \
         (or set TOLLGATE_TEST_SKIP_PYTHON=1 to skip them explicitly)"
    );
    true
}

fn pyjwt(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pyjwt_interop.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pyjwt {:?} failed: {}",
        &args[..2],
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Writes the key PyJWT needs: private PEM (or raw secret) for minting, public PEM for verifying.
fn key_file(ring: &TempKeyring, alg: Algorithm, private: bool) -> std::path::PathBuf {
    let kid = ring.kid();
    let path = ring
        .dir
        .path()
        .join(if private { "private.key" } else { "public.key" });
    let bytes = if alg.is_symmetric() {
        let jwk: Value =
            serde_json::from_str(&ring.keyring.export(&kid, true, None).unwrap()).unwrap();
        URL_SAFE_NO_PAD.decode(jwk["k"].as_str().unwrap()).unwrap()
    } else {
        ring.keyring
            .export(&kid, private, Some(ExportFormat::Pem))
            .unwrap()
            .as_bytes()
            .to_vec()
    };
    std::fs::write(&path, bytes).unwrap();
    path
}

const ALGS: [Algorithm; 6] = [
    Algorithm::EdDSA,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::HS256,
];

#[test]
fn tollgate_tokens_verify_in_pyjwt() {
    if !python_ready() {
        return;
    }
    for alg in ALGS {
        let ring = TempKeyring::with_key(alg);
        // PyJWT checks exp/iat against the real clock, so mint with it.
        let minted = mint(
            &ring.keyring,
            &MintOptions::new("alice").with_claim("n", 7).unwrap(),
            &Clock::System,
        )
        .unwrap();
        let public = key_file(&ring, alg, false);
        let claims: Value = serde_json::from_str(&pyjwt(&[
            "verify",
            alg.as_str(),
            public.to_str().unwrap(),
            &minted.token,
        ]))
        .unwrap();
        assert_eq!(claims["sub"], "alice", "{alg}");
        assert_eq!(claims["n"], 7, "{alg}");
        assert_eq!(
            claims["jti"],
            minted.claims.jti.as_deref().unwrap(),
            "{alg}"
        );
    }
}

#[test]
fn pyjwt_tokens_verify_in_tollgate() {
    if !python_ready() {
        return;
    }
    for alg in ALGS {
        let ring = TempKeyring::with_key(alg);
        let private = key_file(&ring, alg, true);
        let token = pyjwt(&["mint", alg.as_str(), private.to_str().unwrap(), &ring.kid()]);
        let verified = verify::<Value>(
            &token,
            ring.keyring.key_set(),
            &VerifyOptions::new(),
            &Clock::System,
        )
        .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.claims.sub.as_deref(), Some("bob"), "{alg}");
        assert_eq!(verified.claims.extra["role"], "reader", "{alg}");
        // And with the exported public key instead of the keyring (`verify --key`).
        if !alg.is_symmetric() {
            let public = key_file(&ring, alg, false);
            let keys = tollgate::KeySet::from_file(&public, &[]).unwrap();
            verify::<Value>(&token, &keys, &VerifyOptions::new(), &Clock::System).unwrap();
        }
    }
}
