//! Tokens from an independent implementation, PyJWT, for every asymmetric algorithm tollgate
//! verifies (issue 10): minted the way PyJWT users mint them (default header `typ: JWT`, no
//! `jti`, `iat` or `sub`), they verify with `verify --key` and, once the key is imported, with
//! the keyring (the generic RFC 7519 profile); `--profile rfc9068` refuses them, and accepts
//! PyJWT tokens that carry what RFC 9068 asks for. The keys are made on the Python side too
//! (`cryptography`), their public halves written as PEM and as JWKs by PyJWT: tollgate reads
//! another implementation's key files as well as its tokens.
//!
//! Needs `python3` with PyJWT and cryptography (`scripts/test` installs them);
//! `TOLLGATE_TEST_SKIP_PYTHON=1` skips explicitly, saying so (as the root `tests/interop.rs`).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{Out, Ring, now, segment};

/// Every asymmetric algorithm of CLI.md's `keys generate` list.
const ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// For each algorithm named in the JSON request on stdin (`{"dir", "algs", "claims",
/// "headers"}`): makes a key with `cryptography` (RSA 2048 for RS* and PS*, P-256, P-384,
/// Ed25519), writes `DIR/ALG.pub.pem` (SPKI), returns the public JWK as PyJWT writes it (plus
/// `kid`, `alg`, `use`), and a token PyJWT mints with it: `claims`, and `headers` merged into
/// PyJWT's defaults (`alg`, `typ: JWT`) with the kid `pyjwt-ALG`. Prints one JSON object.
const PYJWT: &str = r#"
import json, sys
import jwt
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

req = json.load(sys.stdin)
out = {}
for alg in req["algs"]:
    if alg[:2] in ("RS", "PS"):
        key, to_jwk = rsa.generate_private_key(public_exponent=65537, key_size=2048), RSAAlgorithm.to_jwk
    elif alg == "ES256":
        key, to_jwk = ec.generate_private_key(ec.SECP256R1()), ECAlgorithm.to_jwk
    elif alg == "ES384":
        key, to_jwk = ec.generate_private_key(ec.SECP384R1()), ECAlgorithm.to_jwk
    else:
        key, to_jwk = ed25519.Ed25519PrivateKey.generate(), OKPAlgorithm.to_jwk
    kid = "pyjwt-" + alg
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    open(req["dir"] + "/" + alg + ".pub.pem", "wb").write(pem)
    jwk = json.loads(to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    headers = dict(req["headers"], kid=kid)
    token = jwt.encode(req["claims"], key, algorithm=alg, headers=headers)
    out[alg] = {"kid": kid, "jwk": jwk, "token": token}
print(json.dumps(out))
"#;

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
        "python3 with PyJWT is required for the PyJWT tests: run scripts/test, or \
         `pip install pyjwt cryptography` (or set TOLLGATE_TEST_SKIP_PYTHON=1 to skip them \
         explicitly)"
    );
    true
}

/// One PyJWT key and token per algorithm.
struct Minted {
    alg: &'static str,
    kid: String,
    /// The public key, SPKI PEM written by `cryptography` (`verify --key`).
    public_pem: String,
    token: String,
}

/// Runs the PyJWT script in `ring`'s temp directory; writes there `pyjwt.jwks.json`, the JWK
/// Set of every public key, and returns it with the keys and tokens.
fn pyjwt(ring: &Ring, claims: &Value, headers: &Value) -> (String, Vec<Minted>) {
    let dir = ring.tmp.path().to_str().unwrap().to_string();
    let request = json!({"dir": dir, "algs": ALGS, "claims": claims, "headers": headers});
    let mut child = Command::new("python3")
        .args(["-c", PYJWT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "PyJWT failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let minted: Vec<Minted> = ALGS
        .iter()
        .map(|alg| Minted {
            alg,
            kid: v[alg]["kid"].as_str().unwrap().to_string(),
            public_pem: format!("{dir}/{alg}.pub.pem"),
            token: v[alg]["token"].as_str().unwrap().to_string(),
        })
        .collect();
    let jwks = json!({"keys": ALGS.iter().map(|alg| v[alg]["jwk"].clone()).collect::<Vec<_>>()});
    (ring.write("pyjwt.jwks.json", jwks.to_string()), minted)
}

/// `--store memory: --json verify TOKEN ARGS` at now().
fn verify(ring: &Ring, token: &str, args: &[&str]) -> Out {
    let mut all = vec!["--store", "memory:", "--json", "verify", token];
    all.extend_from_slice(args);
    ring.at(now(), &all)
}

#[test]
fn pyjwt_tokens_of_every_asymmetric_algorithm_follow_the_rfc7519_profile() {
    if !python_ready() {
        return;
    }
    // PyJWT's defaults: header {alg, typ: JWT} plus the kid; only exp and an application claim.
    let ring = Ring::new();
    let (jwks, minted) = pyjwt(
        &ring,
        &json!({"exp": now() + 300, "role": "reader"}),
        &json!({}),
    );
    // A verifier without a keyring (--key), and one that imported the JWK Set.
    let bare = Ring::new();
    let v = ring
        .at(now(), &["--json", "keys", "import", &jwks])
        .ok()
        .json();
    assert_eq!(v["imported"].as_array().unwrap().len(), ALGS.len(), "{v}");

    for m in &minted {
        let alg = m.alg;
        let header = segment(&m.token, 0);
        assert_eq!(header["typ"], "JWT", "{alg}: PyJWT's default header");
        assert_eq!(header["alg"], alg);
        let claims = segment(&m.token, 1);
        for absent in ["jti", "iat", "sub", "iss", "aud"] {
            assert!(claims.get(absent).is_none(), "{alg}: no {absent}");
        }

        // verify --key PEM without a keyring, and plain verify with the keyring that
        // imported the key.
        for (how, ring, args) in [
            ("--key", &bare, vec!["--key", m.public_pem.as_str()]),
            ("keys import", &ring, vec![]),
        ] {
            let token = m.token.as_str();
            let v = verify(ring, token, &args).ok().json();
            assert_eq!(v["valid"], true, "{alg} {how}: {v}");
            assert_eq!(v["claims"]["role"], "reader", "{alg} {how}");
            assert_eq!(v["header"]["kid"], m.kid.as_str(), "{alg} {how}");
            assert_eq!(v["key_state"], "verify", "{alg} {how}");

            // RFC 9068 needs typ at+jwt and iss, aud, sub, client_id, iat, jti: refused,
            // the wrong type first, every missing claim listed.
            let mut strict = args.clone();
            strict.extend_from_slice(&["--profile", "rfc9068"]);
            let out = verify(ring, token, &strict).code(1);
            let v = out.json();
            assert_eq!(v["valid"], false);
            assert_eq!(out.kind(), "wrong_token_type", "{alg} {how}: {v}");
            let errors = v["errors"].as_array().expect("every failed check");
            for claim in ["iss", "aud", "sub", "client_id", "iat", "jti"] {
                assert!(
                    errors.iter().any(|e| e["kind"] == "missing_claim"
                        && e["message"].as_str().unwrap().contains(claim)),
                    "{alg} {how}: {claim} missing in {v}"
                );
            }
            // --typ and --require tighten the generic profile alone.
            let mut typ = args.clone();
            typ.extend_from_slice(&["--typ", "at+jwt"]);
            assert_eq!(
                verify(ring, token, &typ).code(1).kind(),
                "wrong_token_type",
                "{alg} {how}"
            );
            let mut require = args.clone();
            require.extend_from_slice(&["--require", "jti"]);
            assert_eq!(
                verify(ring, token, &require).code(1).kind(),
                "missing_claim",
                "{alg} {how}"
            );
        }
    }
    assert!(!bare.dir.exists(), "--key needs no keyring");
}

#[test]
fn pyjwt_access_tokens_with_the_rfc9068_claims_pass_that_profile() {
    if !python_ready() {
        return;
    }
    let iss = "https://idp.example";
    let ring = Ring::new();
    let (jwks, minted) = pyjwt(
        &ring,
        &json!({
            "iss": iss, "aud": "api", "sub": "bob", "client_id": "app",
            "iat": now() - 5, "exp": now() + 300, "jti": "pyjwt-1",
        }),
        &json!({"typ": "at+jwt"}),
    );
    ring.at(now(), &["keys", "import", &jwks, "--iss", iss])
        .ok();
    let bare = Ring::new();
    let strict = ["--profile", "rfc9068", "--aud", "api"];
    for m in &minted {
        let args = [&["--key", m.public_pem.as_str(), "--iss", iss][..], &strict].concat();
        let v = verify(&bare, &m.token, &args).ok().json();
        assert_eq!(v["claims"]["client_id"], "app", "{}", m.alg);
        let v = verify(&ring, &m.token, &strict).ok().json();
        assert_eq!(v["claims"]["sub"], "bob", "{}", m.alg);
        // Another audience is refused.
        let out = verify(&ring, &m.token, &["--profile", "rfc9068", "--aud", "other"]).code(1);
        assert_eq!(out.kind(), "bad_audience", "{}", m.alg);
    }
}
