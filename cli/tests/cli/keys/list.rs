//! `tollgate keys list`.

use serde_json::json;

use crate::common::{Ring, now};

#[test]
fn json_shape() {
    let ring = Ring::new();
    let a = ring.generate("EdDSA");
    let b = ring.rotate(now() + 10, &[]);
    let c = ring.rotate(now() + 20, &["--stage", "--alg", "HS256"]);
    ring.at(now() + 30, &["keys", "retire", "--", &a]).ok();
    let v = ring.at(now(), &["--json", "keys", "list"]).ok().json();
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
    assert_eq!(by(&a)["retired"], now() + 30);
    assert_eq!(by(&a)["tokens_valid_until"], now() + 10 + 86_400);
    assert_eq!(by(&b)["state"], "active");
    assert_eq!(by(&b)["created"], now() + 10);
    assert_eq!(by(&c)["state"], "next");
    assert_eq!(by(&c)["alg"], "HS256");
    assert_eq!(by(&c)["created"], now() + 20);
}

#[test]
fn human_table() {
    let ring = Ring::new();
    let a = ring.generate("EdDSA");
    let b = ring.rotate(now(), &[]);
    let out = ring.at(now(), &["keys", "list"]).ok();
    let mut lines = out.stdout.lines();
    let header = lines.next().unwrap();
    for col in ["KID", "ALG", "STATE", "CREATED"] {
        assert!(header.contains(col), "{header}");
    }
    let row = |kid: &str| out.stdout.lines().find(|l| l.starts_with(kid)).unwrap();
    assert!(row(&a).contains("verify"));
    assert!(
        row(&a).contains(&tollgate::format_time(now() + 86_400)),
        "valid until"
    );
    assert!(row(&b).contains("active"));
    assert!(row(&b).contains(&tollgate::format_time(now())), "created");
}

#[test]
fn empty_keyring_lists_nothing() {
    let ring = Ring::new();
    std::fs::create_dir(&ring.dir).unwrap();
    Ring::chmod(&ring.dir, 0o700);
    let v = ring.run(&["--json", "keys", "list"]).ok().json();
    assert_eq!(v["keys"], json!([]));
}
