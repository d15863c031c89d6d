//! `tollgate revoke` and the store behind `verify` and `inspect --store`: every scope, the
//! embedded SQLite default shared by separate processes, a real Redis, and failing closed.

use serde_json::Value;

use crate::common::{Ring, now};
use crate::redis_server;

fn ring() -> Ring {
    let ring = Ring::new();
    ring.generate("EdDSA");
    ring
}

/// `verify --json` at `now` with extra global args; returns (exit code, JSON).
fn verify(ring: &Ring, now: i64, token: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["verify", token]);
    let out = ring.at(now, &args);
    let json = out.json();
    (out.code, json)
}

#[test]
fn revoking_a_token_rejects_it_in_another_process() {
    let ring = ring();
    let token = ring.mint(&[]);
    let other = ring.mint(&[]);
    assert_eq!(verify(&ring, now(), &token, &[]).0, 0);
    let out = ring.at(now(), &["--json", "revoke", &token]).ok();
    let v = out.json();
    assert_eq!(v["revoked"], true);
    assert_eq!(v["scope"], "token");
    assert_eq!(
        v["expires_at"],
        now() + 15 * 60 + 300 + 1,
        "the entry lives through exp + the store's maximum leeway (5m), whatever leeway a verifier uses"
    );
    let (code, v) = verify(&ring, now() + 1, &token, &[]);
    assert_eq!(code, 1);
    assert_eq!(v["error"]["kind"], "revoked");
    assert_eq!(v["error"]["scope"], "token");
    assert_eq!(
        verify(&ring, now() + 1, &other, &[]).0,
        0,
        "only that token"
    );
    assert!(
        ring.path("tollgate.db").exists(),
        "the embedded default store is ./tollgate.db"
    );
}

#[test]
fn session_user_key_and_global_scopes() {
    let ring = ring();
    let in_session = ring.mint(&["--sid", "s-1"]);
    let other_session = ring.mint(&["--sid", "s-2"]);
    ring.at(now(), &["revoke", "--session", "s-1"]).ok();
    assert_eq!(
        verify(&ring, now(), &in_session, &[]).1["error"]["scope"],
        "session"
    );
    assert_eq!(verify(&ring, now(), &other_session, &[]).0, 0);

    // A user revocation hits tokens issued up to then (by an issuer's clock up to the store's
    // maximum leeway, 5m, ahead: issue 8), not tokens minted after that.
    let before = ring.mint_at(now(), &["--sid", "s-3"]);
    ring.at(now() + 5, &["revoke", "--user", "alice"]).ok();
    assert_eq!(
        verify(&ring, now() + 6, &before, &[]).1["error"]["scope"],
        "user"
    );
    let skewed = ring.mint_at(now() + 20, &["--sid", "s-5"]);
    assert_eq!(
        verify(&ring, now() + 21, &skewed, &[]).1["error"]["scope"],
        "user"
    );
    let after = ring.mint_at(now() + 5 + 301, &["--sid", "s-4"]);
    assert_eq!(verify(&ring, now() + 5 + 302, &after, &[]).0, 0);

    // A key revocation hits every token the key signed.
    let kid = ring.run(&["--json", "keys", "list"]).ok().json()["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_string();
    // The key still signs: revoking it is refused (it would lapse while it keeps signing);
    // rotate it out, then revoke it.
    // (The rotation comes after `after` was signed: a token signed by a key after its
    // rotation is refused as such, whatever the store says.)
    let out = ring
        .at(now() + 5 + 302, &["--json", "revoke", "--kid", &kid])
        .code(2);
    assert!(
        out.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rotate")
    );
    ring.rotate(now() + 5 + 302, &[]);
    ring.at(now() + 5 + 302, &["revoke", "--kid", &kid]).ok();
    assert_eq!(
        verify(&ring, now() + 5 + 303, &after, &[]).1["error"]["scope"],
        "key"
    );

    // Global: a fresh keyring-wide reset.
    let ring = self::ring();
    let token = ring.mint(&[]);
    ring.at(now() + 1, &["--json", "revoke", "--all"]).ok();
    assert_eq!(
        verify(&ring, now() + 2, &token, &[]).1["error"]["scope"],
        "global"
    );
    let later = ring.mint_at(now() + 1 + 301, &[]);
    assert_eq!(verify(&ring, now() + 1 + 302, &later, &[]).0, 0);
}

#[test]
fn revoking_an_expired_token_stores_nothing() {
    let ring = ring();
    let token = ring.mint(&["--ttl", "60s"]);
    let out = ring.at(now() + 3600, &["--json", "revoke", &token]).ok();
    assert_eq!(out.json()["revoked"], false);
    assert_eq!(out.json()["reason"], "already_expired");
}

#[test]
fn revoke_needs_a_valid_signature_and_one_target() {
    let ring = ring();
    let token = ring.mint(&[]);
    let (message, sig) = token.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{message}.{flipped}{}", &sig[1..]);
    let out = ring.at(now(), &["--json", "revoke", &tampered]).code(1);
    assert_eq!(out.kind(), "bad_signature");
    ring.at(now(), &["revoke", &token, "--user", "alice"])
        .code(2);
    ring.at(now(), &["revoke", "--session", "a", "--user", "b"])
        .code(2);
}

#[test]
fn inspect_with_store_reports_every_revoking_scope() {
    let ring = ring();
    let token = ring.mint(&["--sid", "s-9"]);
    ring.at(now(), &["revoke", &token]).ok();
    ring.at(now(), &["revoke", "--session", "s-9"]).ok();
    let v = ring
        .at(
            now(),
            &[
                "--json",
                "--store",
                "sqlite:./tollgate.db",
                "inspect",
                &token,
            ],
        )
        .ok()
        .json();
    assert_eq!(v["verified"], false);
    assert_eq!(v["revoked"], true);
    let scopes: Vec<&str> = v["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["token", "session"]);
    // Without --store, inspect consults the default store, which exists here (issue 17; it
    // did not touch any store before).
    assert_eq!(
        ring.at(now(), &["--json", "inspect", &token]).ok().json()["revoked"],
        true
    );
}

#[test]
fn an_unreachable_store_fails_closed_with_exit_3() {
    let ring = ring();
    let token = ring.mint(&[]);
    let port = redis_server::free_port();
    let url = format!("redis://127.0.0.1:{port}/0?timeout=300ms");
    let (code, v) = verify(&ring, now(), &token, &["--store", &url]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["error"]["kind"], "store_unavailable");
    assert!(v.get("valid").is_none() || v["valid"] == false);
    let out = ring
        .at(
            now(),
            &["--json", "--store", &url, "revoke", "--user", "alice"],
        )
        .code(3);
    assert_eq!(out.kind(), "store_unavailable");
    // A malformed URL is a usage error naming the schemes.
    let (code, v) = verify(&ring, now(), &token, &["--store", "redis//nope"]);
    assert_eq!(code, 2);
    assert!(v["error"]["message"].as_str().unwrap().contains("sqlite:"));
}

#[test]
fn revocations_through_redis_are_seen_by_every_process() {
    let Some(server) =
        redis_server::RedisServer::start("revocations_through_redis_are_seen_by_every_process")
    else {
        return;
    };
    let ring = ring();
    let url = server.url("");
    let token = ring.mint(&["--sid", "web-1"]);
    assert_eq!(verify(&ring, now(), &token, &["--store", &url]).0, 0);
    ring.at(now(), &["--store", &url, "revoke", "--session", "web-1"])
        .ok();
    let (code, v) = verify(&ring, now(), &token, &["--store", &url]);
    assert_eq!(code, 1);
    assert_eq!(v["error"]["scope"], "session");
    // The SQLite default knows nothing of it: stores are separate.
    assert_eq!(verify(&ring, now(), &token, &[]).0, 0);
}

#[test]
fn revoking_a_user_also_ends_their_sessions() {
    let ring = ring();
    let pair = ring
        .at(
            now(),
            &[
                "--json",
                "session",
                "login",
                "--sub",
                "alice",
                "--remember-me",
            ],
        )
        .ok()
        .json();
    let refresh = pair["refresh_token"].as_str().unwrap().to_string();
    let access = pair["access_token"].as_str().unwrap().to_string();
    let v = ring
        .at(now() + 5, &["--json", "revoke", "--user", "alice"])
        .ok()
        .json();
    assert_eq!(v["scope"], "user");
    assert_eq!(v["sessions_ended"], 1);
    assert!(
        v.get("id").is_some() && v.get("expires_at").is_some(),
        "{v}"
    );
    // Ended sessions are revoked too; the most specific scope is reported.
    assert_eq!(
        verify(&ring, now() + 6, &access, &[]).1["error"]["kind"],
        "revoked"
    );
    let out = ring
        .at(now() + 6, &["--json", "session", "refresh", &refresh])
        .code(1);
    // Refused, and says why: its user was revoked (`unknown_session` before the attack review).
    assert_eq!(
        (out.kind().as_str(), out.json()["error"]["scope"].as_str()),
        ("revoked", Some("user")),
        "no new access token from a session that was live"
    );
}

#[test]
fn issue_17_a_redis_that_answers_is_told_what_is_wrong_not_to_start() {
    let Some(server) = redis_server::RedisServer::start(
        "issue_17_a_redis_that_answers_is_told_what_is_wrong_not_to_start",
    ) else {
        return;
    };
    let ring = ring();
    let token = ring.mint(&[]);
    let port = server.port();
    for (url, advice) in [
        (format!("redis://127.0.0.1:{port}/99"), "no such database"),
        (
            format!("redis+cluster://127.0.0.1:{port}"),
            "not a cluster: use redis://",
        ),
    ] {
        let (code, v) = verify(&ring, now(), &token, &["--store", &url]);
        assert_eq!(code, 3, "{url}: {v}");
        assert_eq!(v["error"]["kind"], "store_unavailable", "{url}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(advice), "{url}: {message}");
        assert!(!message.contains("start redis"), "{url}: {message}");
    }
}

/// Issue 8, items 1-7 and 10 through the binary, each against the default SQLite store shared
/// by separate processes.
mod issue_8 {
    use super::*;

    fn login(ring: &Ring, now: i64, sub: &str, remember: bool) -> Value {
        let mut args = vec!["--json", "session", "login", "--sub", sub];
        if remember {
            args.push("--remember-me");
        }
        ring.at(now, &args).ok().json()
    }

    fn text(v: &Value, name: &str) -> String {
        v[name].as_str().unwrap().to_owned()
    }

    /// Item 1: `revoke --session` ends the session: past the 24h a denylist entry lived, a
    /// refresh is refused and `session list` no longer shows it.
    #[test]
    fn a_revoked_session_stays_ended() {
        let ring = ring();
        let pair = login(&ring, now(), "alice", true);
        ring.at(now(), &["revoke", "--session", &text(&pair, "session_id")])
            .ok();
        let out = ring
            .at(
                now() + 86_431,
                &[
                    "--json",
                    "session",
                    "refresh",
                    &text(&pair, "refresh_token"),
                ],
            )
            .code(1);
        assert_eq!(out.kind(), "unknown_session");
        let list = ring
            .at(
                now() + 86_431,
                &["--json", "session", "list", "--sub", "alice"],
            )
            .ok()
            .json();
        assert_eq!(list["sessions"], serde_json::json!([]));
    }

    /// Item 2: `revoke --all` stops refresh at once (revoked, scope global).
    #[test]
    fn revoke_all_stops_refresh() {
        let ring = ring();
        let pair = login(&ring, now(), "bob", false);
        ring.at(now(), &["revoke", "--all"]).ok();
        let out = ring
            .at(
                now() + 1,
                &[
                    "--json",
                    "session",
                    "refresh",
                    &text(&pair, "refresh_token"),
                ],
            )
            .code(1);
        assert_eq!(out.kind(), "revoked");
        assert_eq!(out.json()["error"]["scope"], "global");
    }

    /// Items 3-4: a token claiming a lifetime beyond `max_ttl` is refused; at the boundary
    /// second a revoked token is refused and a revocation is still stored.
    #[test]
    fn lifetimes_and_the_boundary_second() {
        let ring = ring();
        // A 7-day token cannot be minted (mint refuses > max_ttl) but can be forged with the
        // key: made here with the keyring's own HS256 key.
        let hs = Ring::new();
        let kid = hs.generate("HS256");
        let secret = hs.hmac_secret(&kid);
        let week = crate::common::hmac_token(
            "HS256",
            &secret,
            &serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
            &serde_json::json!({"sub": "alice", "jti": "j-week", "iat": now(), "exp": now() + 7 * 86_400}),
        );
        let out = hs.verify_at(now() + 1, &week, &[]).code(1);
        assert_eq!(out.kind(), "token_lifetime_exceeded");

        let token = ring.mint(&["--ttl", "60s"]);
        let exp = now() + 60;
        // At exp + leeway the token is expired, and a revocation that second is still stored
        // (a verifier with a larger leeway would accept it).
        let out = ring.verify_at(exp + 30, &token, &[]).code(1);
        assert_eq!(out.kind(), "expired");
        let v = ring.at(exp + 30, &["--json", "revoke", &token]).ok().json();
        assert_eq!(v["revoked"], true, "{v}");
        // Item 5: a verifier with the largest leeway the store allows still refuses it.
        let out = ring
            .verify_at(exp + 299, &token, &["--leeway", "5m"])
            .code(1);
        assert_eq!(out.kind(), "revoked");
    }

    /// Item 7: `--now` far in the future does not let a writer purge live revocations.
    #[test]
    fn a_writer_with_a_future_now_purges_nothing() {
        let ring = ring();
        let token = ring.mint(&[]);
        ring.at(now(), &["revoke", &token]).ok();
        ring.at(4_102_444_800, &["revoke", "--session", "x"]).ok();
        ring.at(4_102_444_800, &["store", "purge"]).ok();
        assert_eq!(
            verify(&ring, now() + 1, &token, &[]).1["error"]["kind"],
            "revoked"
        );
        let v = ring.run(&["--json", "store", "purge"]).ok().json();
        assert_eq!(v["entries"], 0, "{v}");
    }

    /// Item 9: ids longer than 512 bytes are revocable.
    #[test]
    fn a_600_byte_sid_is_revocable() {
        let ring = ring();
        let sid = "s".repeat(600);
        let token = ring.mint(&["--sid", &sid]);
        ring.at(now(), &["revoke", "--session", &sid]).ok();
        assert_eq!(
            verify(&ring, now() + 1, &token, &[]).1["error"]["scope"],
            "session"
        );
    }

    /// Item 10: logout with an access token that expired more than max_ttl ago ends nothing.
    #[test]
    fn logout_with_an_old_access_token_is_refused() {
        let ring = ring();
        let pair = login(&ring, now(), "carol", false);
        let out = ring
            .at(
                now() + 15 * 60 + 86_400,
                &["--json", "session", "logout", &text(&pair, "access_token")],
            )
            .code(1);
        assert_eq!(out.kind(), "expired");
        ring.at(
            now() + 1,
            &["session", "refresh", &text(&pair, "refresh_token")],
        )
        .ok();
    }

    /// Issue 17: revoking an unknown session or kid says so, and still records it.
    #[test]
    fn revoking_unknown_ids_says_so() {
        let ring = ring();
        for args in [
            ["revoke", "--session", "nosuch"],
            ["revoke", "--kid", "nope"],
        ] {
            let mut all = vec!["--json"];
            all.extend_from_slice(&args);
            let out = ring.at(now(), &all).ok();
            let v = out.json();
            assert_eq!(v["revoked"], true);
            assert!(v["note"].as_str().unwrap().contains("no "), "{v}");
            assert!(out.stderr.contains("note:"), "{}", out.stderr);
        }
    }
}

/// Findings of the attack review on issue 8, through the binary.
mod attack_review {
    use super::*;

    #[test]
    fn revoking_a_live_session_reports_its_entry() {
        let ring = ring();
        let login = ring
            .at(now(), &["--json", "session", "login", "--sub", "ann"])
            .ok()
            .json();
        let sid = login["session_id"].as_str().unwrap();
        let v = ring
            .at(now() + 1, &["--json", "revoke", "--session", sid])
            .ok()
            .json();
        assert_eq!(v["sessions_ended"], 1, "{v}");
        // Kept as long as any token carrying the sid can live (the keyring's max_ttl).
        assert!(
            v["expires_at"].as_i64().unwrap() >= now() + 1 + 86_400,
            "{v}"
        );
        let text = ring.at(now() + 2, &["revoke", "--session", sid]).ok();
        assert!(text.stdout.contains("the entry expires"), "{}", text.stdout);
    }

    #[test]
    fn another_issuers_user_is_revoked_in_its_namespace() {
        let ring = ring();
        let issuer = Ring::new();
        issuer.generate("EdDSA");
        let kid = issuer.run(&["--json", "keys", "list"]).ok().json()["keys"][0]["kid"]
            .as_str()
            .unwrap()
            .to_string();
        let public = issuer.run(&["keys", "export", &kid]).ok().stdout;
        let file = ring.write("issuer.jwk", public);
        ring.run(&["keys", "import", &file]).ok();
        let token = issuer.mint_at(now(), &["--sid", "s-ext"]);
        // tollgate's own --user and --session do not reach it...
        ring.at(now() + 1, &["revoke", "--user", "alice"]).ok();
        ring.at(now() + 1, &["revoke", "--session", "s-ext"]).ok();
        assert_eq!(verify(&ring, now() + 2, &token, &[]).0, 0);
        // ...the same in the imported key's namespace do.
        let v = ring
            .at(
                now() + 2,
                &["--json", "revoke", "--user", "alice", "--from-key", &kid],
            )
            .ok()
            .json();
        assert!(v["namespace"].as_str().unwrap().starts_with("key:"), "{v}");
        assert_eq!(
            verify(&ring, now() + 3, &token, &[]).1["error"]["scope"],
            "user"
        );
        // --from-key names an imported key; --iss and --from-key go with --session or --user.
        let own = ring.run(&["--json", "keys", "list"]).ok().json()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] != kid.as_str())
            .unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_string();
        ring.at(now(), &["revoke", "--user", "a", "--from-key", &own])
            .code(2);
        ring.at(now(), &["revoke", "--all", "--iss", "https://idp"])
            .code(2);
    }

    #[test]
    fn a_stores_maximum_leeway_cannot_change() {
        let ring = ring();
        let store = format!("sqlite:{}?max_leeway=10m", ring.path("lee.db").display());
        let token = ring.mint(&[]);
        ring.at(now(), &["--store", &store, "revoke", &token]).ok();
        let larger = format!("sqlite:{}?max_leeway=1h", ring.path("lee.db").display());
        let out = ring
            .at(
                now(),
                &[
                    "--json", "--store", &larger, "verify", &token, "--leeway", "1h",
                ],
            )
            .code(2);
        assert!(
            out.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("set when it was created"),
            "{}",
            out.stdout
        );
    }
}
