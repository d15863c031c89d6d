//! Issuers kept apart (issue 10): a key imported into the keyring, with or without `--iss`,
//! signs tokens in its own namespace. Whatever `sid`, `sub` or `jti` such a token carries (here:
//! exactly those of a victim's session), it cannot log the victim out (`session logout`) and
//! revoking it (`revoke TOKEN`) reaches nothing of the victim's: the victim's access token still
//! verifies and their refresh token still rotates. And the issuer rules: a key bound to an
//! issuer refuses other issuers' tokens; an unbound key refuses tokens claiming the keyring's
//! own issuer (`--issuer`).

use serde_json::{Value, json};

use crate::common::{Out, Ring, ed25519_token, now, segment};

/// The keyring's own issuer (`--issuer` on every command of the victim's side).
const OWN: &str = "https://tollgate.test";
/// Another issuer, whose key is imported.
const PARTNER: &str = "https://partner.example";

/// A keyring with one key, and a victim logged in with `session login --remember-me`.
struct Victim {
    ring: Ring,
    access: String,
    refresh: String,
    sid: String,
    jti: String,
}

impl Victim {
    fn new() -> Victim {
        let ring = Ring::new();
        ring.generate("EdDSA");
        let pair = run(
            &ring,
            &["session", "login", "--sub", "victim", "--remember-me"],
        )
        .ok()
        .json();
        let access = pair["access_token"].as_str().unwrap().to_string();
        let claims = segment(&access, 1);
        assert_eq!(claims["iss"], OWN, "own tokens carry --issuer");
        Victim {
            refresh: pair["refresh_token"].as_str().unwrap().to_string(),
            sid: claims["sid"].as_str().unwrap().to_string(),
            jti: claims["jti"].as_str().unwrap().to_string(),
            access,
            ring,
        }
    }

    /// The victim's access token still verifies, and their session is still listed.
    #[track_caller]
    fn untouched(&self, what: &str) {
        let v = run(&self.ring, &["verify", &self.access]).ok().json();
        assert_eq!(v["valid"], true, "{what}: {v}");
        assert_eq!(v["claims"]["sub"], "victim", "{what}");
        let list = run(&self.ring, &["session", "list", "--sub", "victim"])
            .ok()
            .json();
        let sessions = list["sessions"].as_array().expect("sessions");
        assert_eq!(sessions.len(), 1, "{what}: {list}");
    }

    /// The victim's refresh token rotates, and the new access token verifies.
    #[track_caller]
    fn refreshes(&self, what: &str) {
        let pair = run(&self.ring, &["session", "refresh", &self.refresh])
            .ok()
            .json();
        assert_eq!(pair["session_id"], self.sid.as_str(), "{what}");
        let access = pair["access_token"].as_str().unwrap();
        run(&self.ring, &["verify", access]).ok();
    }
}

/// `tollgate --keys … --issuer OWN --json --now now() ARGS` (store: the ring's SQLite file).
fn run(ring: &Ring, args: &[&str]) -> Out {
    let mut all = vec!["--issuer", OWN, "--json"];
    all.extend_from_slice(args);
    ring.at(now(), &all)
}

/// Another party's EdDSA key: its kid, PKCS#8 document, and public JWK file in `victim`'s temp
/// directory.
struct Foreign {
    kid: String,
    pkcs8: Vec<u8>,
    jwk_file: String,
}

impl Foreign {
    fn new(victim: &Ring, name: &str) -> Foreign {
        let other = Ring::new();
        let kid = other.generate("EdDSA");
        Foreign {
            pkcs8: other.ed25519_pkcs8(&kid),
            jwk_file: victim.write(&format!("{name}.jwk"), other.export(&kid, &[])),
            kid,
        }
    }

    /// A token of this key carrying the victim's `sub`, `sid` and `jti`, with `iss` when given.
    fn token_like(&self, victim: &Victim, iss: Option<&str>) -> String {
        let mut claims = json!({
            "sub": "victim",
            "sid": victim.sid,
            "jti": victim.jti,
            "iat": now(),
            "exp": now() + 600,
        });
        if let Some(iss) = iss {
            claims["iss"] = json!(iss);
        }
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": self.kid});
        ed25519_token(&self.pkcs8, &header, &claims)
    }
}

/// What `verify` says of the foreign token: valid, or refused with a kind.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Valid,
    Refused(&'static str),
}

/// One arrangement: the key imported with `import_iss` (or none), its token carrying
/// `token_iss` (or none); what `verify` must say; then logout and revoke with it.
fn case(import_iss: Option<&str>, token_iss: Option<&str>, verdict: Verdict) {
    let what = format!("key imported with --iss {import_iss:?}, token iss {token_iss:?}");
    let victim = Victim::new();
    let foreign = Foreign::new(&victim.ring, "foreign");
    let mut import = vec!["keys", "import", foreign.jwk_file.as_str()];
    if let Some(iss) = import_iss {
        import.extend_from_slice(&["--iss", iss]);
    }
    let v = run(&victim.ring, &import).ok().json();
    assert_eq!(v["imported"][0]["kid"], foreign.kid.as_str(), "{what}");
    let token = foreign.token_like(&victim, token_iss);

    let out = run(&victim.ring, &["verify", &token]);
    match verdict {
        Verdict::Valid => {
            let v = out.ok().json();
            assert_eq!(v["claims"]["sid"], victim.sid.as_str(), "{what}");
            assert_eq!(v["key_state"], "verify", "{what}");
        }
        Verdict::Refused(kind) => assert_eq!(out.code(1).kind(), kind, "{what}"),
    }

    // `session logout` with it: refused, the token belongs to no tollgate session.
    let out = run(&victim.ring, &["session", "logout", &token]).code(1);
    assert_eq!(out.kind(), "unknown_session", "{what}");
    assert!(
        out.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not by this keyring"),
        "{what}: {}",
        out.stdout
    );
    victim.untouched(&format!("{what}, after logout"));

    // `revoke` with it: whatever it writes is in the key's (or its issuer's) namespace.
    let out = run(&victim.ring, &["revoke", &token]);
    if out.code == 0 {
        let v = out.json();
        assert_eq!(v["scope"], "token", "{what}: {v}");
        if verdict == Verdict::Valid {
            let out = run(&victim.ring, &["verify", &token]).code(1);
            assert_eq!(
                out.kind(),
                "revoked",
                "{what}: the foreign token itself is revoked"
            );
            assert_eq!(out.json()["error"]["scope"], "token", "{what}");
        }
    } else {
        assert_eq!(out.code, 1, "{what}: {}", out.all());
    }
    victim.untouched(&format!("{what}, after revoke"));
    victim.refreshes(&what);
}

#[test]
fn an_unbound_imported_key_cannot_log_out_or_revoke_a_victim() {
    case(None, None, Verdict::Valid);
}

#[test]
fn an_unbound_imported_key_refuses_the_keyrings_own_issuer_and_still_reaches_nothing() {
    case(None, Some(OWN), Verdict::Refused("bad_issuer"));
}

#[test]
fn a_key_imported_for_an_issuer_cannot_log_out_or_revoke_a_victim() {
    case(Some(PARTNER), Some(PARTNER), Verdict::Valid);
}

#[test]
fn a_key_imported_for_an_issuer_refuses_other_issuers() {
    case(Some(PARTNER), Some(OWN), Verdict::Refused("bad_issuer"));
    case(
        Some(PARTNER),
        Some("https://other.example"),
        Verdict::Refused("bad_issuer"),
    );
    // No `iss` at all: the key accepts its issuer's tokens only, so the claim is required.
    case(Some(PARTNER), None, Verdict::Refused("missing_claim"));
}

/// Bound by the operator to the keyring's own issuer name, an imported key still signs in its
/// issuer namespace (`iss:…`), never in the keyring's own: its tokens verify, and still reach
/// nothing of the victim's.
#[test]
fn a_key_imported_for_the_keyrings_own_issuer_is_still_another_namespace() {
    case(Some(OWN), Some(OWN), Verdict::Valid);
}

#[test]
fn two_imported_keys_revoke_apart_from_each_other() {
    // Two foreign keys, one token each with the same jti: revoking one leaves the other.
    let victim = Victim::new();
    let a = Foreign::new(&victim.ring, "a");
    let b = Foreign::new(&victim.ring, "b");
    run(&victim.ring, &["keys", "import", &a.jwk_file]).ok();
    run(
        &victim.ring,
        &["keys", "import", &b.jwk_file, "--iss", PARTNER],
    )
    .ok();
    let ta = a.token_like(&victim, None);
    let tb = b.token_like(&victim, Some(PARTNER));
    run(&victim.ring, &["revoke", &ta]).ok();
    assert_eq!(
        run(&victim.ring, &["verify", &ta]).code(1).kind(),
        "revoked"
    );
    let v: Value = run(&victim.ring, &["verify", &tb]).ok().json();
    assert_eq!(v["claims"]["jti"], victim.jti.as_str());
    victim.untouched("after revoking a's token");
}
