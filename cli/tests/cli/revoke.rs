//! `tollgate revoke` and the store behind `verify` and `inspect --store`: every scope, the
//! embedded SQLite default shared by separate processes, a real Redis, and failing closed.

use serde_json::Value;

use crate::common::{NOW, Ring};
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
    assert_eq!(verify(&ring, NOW, &token, &[]).0, 0);
    let out = ring.at(NOW, &["--json", "revoke", &token]).ok();
    let v = out.json();
    assert_eq!(v["revoked"], true);
    assert_eq!(v["scope"], "token");
    assert_eq!(
        v["expires_at"],
        NOW + 15 * 60 + 30,
        "entry lives until exp + leeway"
    );
    let (code, v) = verify(&ring, NOW + 1, &token, &[]);
    assert_eq!(code, 1);
    assert_eq!(v["error"]["kind"], "revoked");
    assert_eq!(v["error"]["scope"], "token");
    assert_eq!(verify(&ring, NOW + 1, &other, &[]).0, 0, "only that token");
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
    ring.at(NOW, &["revoke", "--session", "s-1"]).ok();
    assert_eq!(
        verify(&ring, NOW, &in_session, &[]).1["error"]["scope"],
        "session"
    );
    assert_eq!(verify(&ring, NOW, &other_session, &[]).0, 0);

    // A user revocation hits tokens issued up to then, not later logins.
    let before = ring.mint_at(NOW, &["--sid", "s-3"]);
    ring.at(NOW + 5, &["revoke", "--user", "alice"]).ok();
    assert_eq!(
        verify(&ring, NOW + 6, &before, &[]).1["error"]["scope"],
        "user"
    );
    let after = ring.mint_at(NOW + 10, &["--sid", "s-4"]);
    assert_eq!(verify(&ring, NOW + 11, &after, &[]).0, 0);

    // A key revocation hits every token the key signed.
    let kid = ring.run(&["--json", "keys", "list"]).ok().json()["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_string();
    ring.at(NOW + 20, &["revoke", "--kid", &kid]).ok();
    assert_eq!(
        verify(&ring, NOW + 21, &after, &[]).1["error"]["scope"],
        "key"
    );

    // Global: a fresh keyring-wide reset.
    let ring = self::ring();
    let token = ring.mint(&[]);
    ring.at(NOW + 1, &["--json", "revoke", "--all"]).ok();
    assert_eq!(
        verify(&ring, NOW + 2, &token, &[]).1["error"]["scope"],
        "global"
    );
    let later = ring.mint_at(NOW + 3, &[]);
    assert_eq!(verify(&ring, NOW + 4, &later, &[]).0, 0);
}

#[test]
fn revoking_an_expired_token_stores_nothing() {
    let ring = ring();
    let token = ring.mint(&["--ttl", "60s"]);
    let out = ring.at(NOW + 3600, &["--json", "revoke", &token]).ok();
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
    let out = ring.at(NOW, &["--json", "revoke", &tampered]).code(1);
    assert_eq!(out.kind(), "bad_signature");
    ring.at(NOW, &["revoke", &token, "--user", "alice"]).code(2);
    ring.at(NOW, &["revoke", "--session", "a", "--user", "b"])
        .code(2);
}

#[test]
fn inspect_with_store_reports_every_revoking_scope() {
    let ring = ring();
    let token = ring.mint(&["--sid", "s-9"]);
    ring.at(NOW, &["revoke", &token]).ok();
    ring.at(NOW, &["revoke", "--session", "s-9"]).ok();
    let v = ring
        .at(
            NOW,
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
    // Without --store, inspect does not touch the store.
    assert!(
        ring.at(NOW, &["--json", "inspect", &token])
            .ok()
            .json()
            .get("revocations")
            .is_none()
    );
}

#[test]
fn an_unreachable_store_fails_closed_with_exit_3() {
    let ring = ring();
    let token = ring.mint(&[]);
    let port = redis_server::free_port();
    let url = format!("redis://127.0.0.1:{port}/0?timeout=300ms");
    let (code, v) = verify(&ring, NOW, &token, &["--store", &url]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["error"]["kind"], "store_unavailable");
    assert!(v.get("valid").is_none() || v["valid"] == false);
    let out = ring
        .at(
            NOW,
            &["--json", "--store", &url, "revoke", "--user", "alice"],
        )
        .code(3);
    assert_eq!(out.kind(), "store_unavailable");
    // A malformed URL is a usage error naming the schemes.
    let (code, v) = verify(&ring, NOW, &token, &["--store", "redis//nope"]);
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
    assert_eq!(verify(&ring, NOW, &token, &["--store", &url]).0, 0);
    ring.at(NOW, &["--store", &url, "revoke", "--session", "web-1"])
        .ok();
    let (code, v) = verify(&ring, NOW, &token, &["--store", &url]);
    assert_eq!(code, 1);
    assert_eq!(v["error"]["scope"], "session");
    // The SQLite default knows nothing of it: stores are separate.
    assert_eq!(verify(&ring, NOW, &token, &[]).0, 0);
}

#[test]
fn revoking_a_user_also_ends_their_sessions() {
    let ring = ring();
    let pair = ring
        .at(
            NOW,
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
        .at(NOW + 5, &["--json", "revoke", "--user", "alice"])
        .ok()
        .json();
    assert_eq!(v["scope"], "user");
    assert_eq!(v["sessions_ended"], 1);
    // Ended sessions are revoked too; the most specific scope is reported.
    assert_eq!(
        verify(&ring, NOW + 6, &access, &[]).1["error"]["kind"],
        "revoked"
    );
    let out = ring
        .at(NOW + 6, &["--json", "session", "refresh", &refresh])
        .code(1);
    assert_eq!(
        out.kind(),
        "unknown_session",
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
        let (code, v) = verify(&ring, NOW, &token, &["--store", &url]);
        assert_eq!(code, 3, "{url}: {v}");
        assert_eq!(v["error"]["kind"], "store_unavailable", "{url}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(advice), "{url}: {message}");
        assert!(!message.contains("start redis"), "{url}: {message}");
    }
}
