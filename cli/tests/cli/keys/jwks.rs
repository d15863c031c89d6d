//! `tollgate keys jwks`.

use serde_json::json;

use crate::common::{Ring, now};

#[test]
fn only_public_next_active_and_verify_asymmetric_keys() {
    let ring = Ring::new();
    let verify = ring.generate("EdDSA");
    // An HS key that signed and now verifies: still never published. (A keyring holds one
    // `next` key at a time, so each is promoted or retired before the next is added.)
    let hs = ring.generate("HS256");
    ring.rotate(now(), &[]);
    let active = ring.rotate(now(), &["--alg", "RS256"]);
    let retired = ring.generate("ES384");
    ring.at(now(), &["keys", "retire", "--", &retired]).ok();
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
