//! `tollgate session`: every subcommand as a black box, its exit codes (0, 1, 2, 3) and JSON
//! shapes, sessions shared by separate processes through the SQLite default and through Redis.

use serde_json::Value;

use crate::common::{Out, Ring, now, segment};
use crate::{common, redis_server};

fn ring() -> Ring {
    let ring = Ring::new();
    ring.generate("EdDSA");
    ring
}

/// `session ARGS` at `now`, with `--json` first when `json`.
fn session(ring: &Ring, now: i64, args: &[&str]) -> Out {
    let mut all = vec!["session"];
    all.extend_from_slice(args);
    ring.at(now, &all)
}

fn login(ring: &Ring, now: i64, extra: &[&str]) -> Value {
    let mut args = vec!["login", "--sub", "alice"];
    args.extend_from_slice(extra);
    session(ring, now, &args).ok().json()
}

fn field(pair: &Value, name: &str) -> String {
    pair[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {pair:#}"))
        .to_owned()
}

/// `--json session ARGS` that must fail with `code`; returns the error kind.
fn fails(ring: &Ring, now: i64, code: i32, args: &[&str]) -> String {
    let mut all = vec!["--json", "session"];
    all.extend_from_slice(args);
    let out = ring.at(now, &all).code(code);
    out.kind()
}

/// `--json verify TOKEN` at `now`: (exit code, JSON).
fn verify(ring: &Ring, now: i64, token: &str) -> (i32, Value) {
    let out = ring.verify_at(now, token, &[]);
    let json = out.json();
    (out.code, json)
}

#[test]
fn login_prints_the_contract_pair() {
    let ring = ring();
    for json in [false, true] {
        let mut args = vec![];
        if json {
            args.push("--json");
        }
        args.extend_from_slice(&[
            "session",
            "login",
            "--sub",
            "alice",
            "--claim",
            "role=admin",
        ]);
        let pair = ring.at(now(), &args).ok().json();
        let mut keys: Vec<&str> = pair
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "access_token",
                "expires_in",
                "refresh_expires_in",
                "refresh_token",
                "remember_me",
                "session_id",
                "token_type"
            ]
        );
        assert_eq!(pair["token_type"], "Bearer");
        assert_eq!(pair["expires_in"], 900);
        assert_eq!(pair["refresh_expires_in"], 12 * 3600);
        assert_eq!(pair["remember_me"], false);
        let sid = field(&pair, "session_id");
        assert!(common::is_uuid(&sid));
        assert!(field(&pair, "refresh_token").starts_with(&format!("tgr1.{sid}.1.")));
        // The access token is a JWT of the session that verifies in another process.
        let access = field(&pair, "access_token");
        let claims = segment(&access, 1);
        assert_eq!(
            (claims["sid"].as_str(), claims["role"].as_str()),
            (Some(sid.as_str()), Some("admin"))
        );
        let (code, v) = verify(&ring, now() + 1, &access);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["claims"]["sub"], "alice");
    }
    let pair = login(
        &ring,
        now(),
        &[
            "--remember-me",
            "--user-agent",
            "curl/8",
            "--ip",
            "192.0.2.1",
        ],
    );
    assert_eq!(pair["remember_me"], true);
    assert_eq!(pair["refresh_expires_in"], 30 * 86_400);
}

#[test]
fn refresh_rotates_and_a_replay_within_grace_returns_the_same_pair() {
    let ring = ring();
    let first = login(&ring, now(), &[]);
    let refresh = field(&first, "refresh_token");
    let second = session(&ring, now() + 60, &["refresh", &refresh]).ok();
    let pair = second.json();
    assert_eq!(pair["session_id"], first["session_id"]);
    assert!(field(&pair, "refresh_token").contains(".2."));
    // Counted by the store on its clock, from the last use (a second may have passed).
    let left = pair["refresh_expires_in"].as_i64().unwrap();
    assert!((12 * 3600 - 5..=12 * 3600).contains(&left), "{left}");
    // Through stdin and @FILE, 5 seconds later: the very same output.
    let replay = ring
        .stdin(now() + 65, &["session", "refresh", "-"], &refresh)
        .ok();
    let file = ring.write("refresh.txt", format!("{refresh}\n"));
    let from_file = ring
        .at(
            now() + 65,
            &["--json", "session", "refresh", &format!("@{file}")],
        )
        .ok();
    assert_eq!(replay.stdout, from_file.stdout);
    let replayed = replay.json();
    assert_eq!(replayed["refresh_token"], pair["refresh_token"]);
    assert_eq!(replayed["access_token"], pair["access_token"]);
    assert_eq!(replayed["expires_in"], 900 - 5);
    // And the successor rotates on.
    let third = session(
        &ring,
        now() + 70,
        &["refresh", &field(&pair, "refresh_token")],
    )
    .ok();
    assert!(field(&third.json(), "refresh_token").contains(".3."));
}

#[test]
fn reuse_is_exit_1_and_revokes_the_session() {
    let ring = ring();
    let first = login(&ring, now(), &["--remember-me"]);
    let stolen = field(&first, "refresh_token");
    let second = session(&ring, now() + 60, &["refresh", &stolen])
        .ok()
        .json();
    let third = session(
        &ring,
        now() + 120,
        &["refresh", &field(&second, "refresh_token")],
    )
    .ok()
    .json();
    let out = ring
        .at(now() + 130, &["--json", "session", "refresh", &stolen])
        .code(1);
    let v = out.json();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error"]["kind"], "reused_refresh_token");
    let sid = field(&first, "session_id");
    assert_eq!(v["error"]["session"], format!("{}…", &sid[..8]));
    assert!(
        out.stderr.contains("refresh token already used"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(&sid), "only a prefix of the session id");
    // Human mode: the message on stderr, nothing on stdout.
    let human = session(&ring, now() + 130, &["refresh", &stolen]).code(1);
    assert!(human.stdout.is_empty());
    // The user's current tokens are dead too.
    let (code, v) = verify(&ring, now() + 131, &field(&third, "access_token"));
    assert_eq!((code, v["error"]["kind"].as_str()), (1, Some("revoked")));
    assert_eq!(v["error"]["scope"], "session");
    assert_eq!(
        fails(
            &ring,
            now() + 131,
            1,
            &["refresh", &field(&third, "refresh_token")]
        ),
        "unknown_session"
    );
    // A new login works.
    let fresh = login(&ring, now() + 140, &[]);
    assert_eq!(
        verify(&ring, now() + 141, &field(&fresh, "access_token")).0,
        0
    );
}

#[test]
fn grace_is_configurable_by_flag_and_env() {
    let ring = ring();
    for how in ["flag", "env"] {
        let first = login(&ring, now(), &[]);
        let refresh = field(&first, "refresh_token");
        let mut cmd = ring.cmd();
        cmd.args(["--now", &now().to_string(), "session", "refresh", &refresh]);
        common::run(&mut cmd).ok();
        let mut cmd = ring.cmd();
        cmd.args([
            "--json",
            "--now",
            &(now() + 1).to_string(),
            "session",
            "refresh",
            &refresh,
        ]);
        match how {
            "flag" => cmd.args(["--grace", "0"]),
            _ => cmd.env("TOLLGATE_GRACE", "0s"),
        };
        let out = common::run(&mut cmd).code(1);
        assert_eq!(out.kind(), "reused_refresh_token", "{how}");
    }
    // Lifetimes too: a 5-minute access token, a 1-hour session window.
    let pair = ring
        .at(
            now(),
            &[
                "session",
                "login",
                "--access-ttl",
                "5m",
                "--sub",
                "bob",
                "--refresh-window",
                "1h",
            ],
        )
        .ok()
        .json();
    assert_eq!(
        (
            pair["expires_in"].as_i64(),
            pair["refresh_expires_in"].as_i64()
        ),
        (Some(300), Some(3600))
    );
}

#[test]
fn session_only_refresh_tokens_end_after_12_hours() {
    // The store decides when a session ends, on its own clock (issue 8): `--now` moves the
    // tokens' times, never the session's. The 12 hours themselves are counted by the store
    // (tests/sessions.rs runs them on a manual store clock).
    let ring = ring();
    let pair = login(&ring, now(), &[]);
    assert_eq!(pair["refresh_expires_in"], 12 * 3600);
    let listed = ring
        .at(now(), &["--json", "session", "list", "--sub", "alice"])
        .ok()
        .json();
    let s = &listed["sessions"][0];
    assert_eq!(
        s["absolute_expires_at"].as_i64().unwrap() - s["created"].as_i64().unwrap(),
        12 * 3600
    );
    let pair = session(
        &ring,
        now() + 13 * 3600,
        &["refresh", &field(&pair, "refresh_token")],
    )
    .ok()
    .json();
    let left = pair["refresh_expires_in"].as_i64().unwrap();
    assert!((12 * 3600 - 5..=12 * 3600).contains(&left), "{left}");
}

#[test]
fn tokens_are_not_interchangeable() {
    let ring = ring();
    let pair = login(&ring, now(), &[]);
    let (code, v) = verify(&ring, now(), &field(&pair, "refresh_token"));
    assert_eq!(
        (code, v["error"]["kind"].as_str()),
        (1, Some("wrong_token_type"))
    );
    assert_eq!(
        fails(&ring, now(), 1, &["refresh", &field(&pair, "access_token")]),
        "wrong_token_type"
    );
    assert_eq!(
        fails(&ring, now(), 1, &["refresh", "nonsense"]),
        "malformed"
    );
    let unknown = format!(
        "tgr1.{}.1.{}",
        "0c9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b",
        "A".repeat(43)
    );
    assert_eq!(
        fails(&ring, now(), 1, &["refresh", &unknown]),
        "unknown_session"
    );
}

#[test]
fn logout_with_an_access_or_a_refresh_token() {
    let ring = ring();
    let a = login(&ring, now(), &[]);
    let b = login(&ring, now(), &[]);
    let out = session(&ring, now() + 1, &["logout", &field(&a, "access_token")]).ok();
    assert!(out.stdout.contains("logged out"), "{}", out.stdout);
    let v = ring
        .at(
            now() + 1,
            &["--json", "session", "logout", &field(&b, "refresh_token")],
        )
        .ok()
        .json();
    assert_eq!(v, serde_json::json!({"logged_out": true}));
    for pair in [&a, &b] {
        let (code, v) = verify(&ring, now() + 2, &field(pair, "access_token"));
        assert_eq!((code, v["error"]["scope"].as_str()), (1, Some("session")));
        assert_eq!(
            fails(
                &ring,
                now() + 2,
                1,
                &["refresh", &field(pair, "refresh_token")]
            ),
            "unknown_session"
        );
    }
    assert_eq!(
        fails(
            &ring,
            now() + 2,
            1,
            &["logout", &field(&b, "refresh_token")]
        ),
        "unknown_session"
    );
    // A tampered access token is refused, and ends nothing.
    let c = login(&ring, now(), &[]);
    let tampered = common::flip_signature(&field(&c, "access_token"));
    assert_eq!(
        fails(&ring, now() + 3, 1, &["logout", &tampered]),
        "bad_signature"
    );
    assert_eq!(verify(&ring, now() + 3, &field(&c, "access_token")).0, 0);
}

#[test]
fn list_and_logout_all() {
    let ring = ring();
    let a = login(
        &ring,
        now(),
        &["--user-agent", "Firefox", "--ip", "192.0.2.1"],
    );
    // Sessions are listed by their creation on the store's clock, to the second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = login(&ring, now() + 10, &["--remember-me"]);
    let bob = ring
        .at(now(), &["session", "login", "--sub", "bob"])
        .ok()
        .json();

    let table = session(&ring, now() + 20, &["list", "--sub", "alice"]).ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", table.stdout);
    assert!(lines[0].starts_with("SESSION"), "{}", lines[0]);
    assert!(
        lines[1].starts_with(&field(&b, "session_id")),
        "most recent first"
    );
    assert!(lines[2].contains("Firefox (192.0.2.1)"), "{}", lines[2]);

    let v = ring
        .at(now() + 20, &["--json", "session", "list", "--sub", "alice"])
        .ok()
        .json();
    assert_eq!(v["sub"], "alice");
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let first = &sessions[0];
    assert_eq!(first["sid"], b["session_id"]);
    assert_eq!(first["remember_me"], true);
    for key in [
        "sid",
        "sub",
        "created",
        "last_used",
        "remember_me",
        "expires_at",
        "absolute_expires_at",
        "generation",
        "device",
    ] {
        assert!(first.get(key).is_some(), "no {key} in {first:#}");
    }
    assert_eq!(sessions[1]["device"]["user_agent"], "Firefox");
    assert_eq!(sessions[1]["device"]["ip"], "192.0.2.1");

    // Log out the other devices, then everything.
    let v = ring
        .at(
            now() + 30,
            &[
                "--json",
                "session",
                "logout-all",
                "--sub",
                "alice",
                "--keep",
                &field(&a, "session_id"),
            ],
        )
        .ok()
        .json();
    assert_eq!(
        v,
        serde_json::json!({"sub": "alice", "ended": 1, "kept": field(&a, "session_id")})
    );
    assert_eq!(verify(&ring, now() + 31, &field(&a, "access_token")).0, 0);
    assert_eq!(verify(&ring, now() + 31, &field(&b, "access_token")).0, 1);

    let out = session(&ring, now() + 40, &["logout-all", "--sub", "alice"]).ok();
    assert!(
        out.stdout.starts_with("ended 1 session(s) of alice"),
        "{}",
        out.stdout
    );
    let v = ring
        .at(now() + 41, &["--json", "session", "list", "--sub", "alice"])
        .ok()
        .json();
    assert_eq!(v["sessions"], serde_json::json!([]));
    let empty = session(&ring, now() + 41, &["list", "--sub", "alice"]).ok();
    assert!(empty.stdout.is_empty() && empty.stderr.contains("no live sessions"));
    let (code, v) = verify(&ring, now() + 41, &field(&a, "access_token"));
    assert_eq!(code, 1);
    assert!(["session", "user"].contains(&v["error"]["scope"].as_str().unwrap()));
    assert_eq!(verify(&ring, now() + 41, &field(&bob, "access_token")).0, 0);
    let v = ring
        .at(
            now() + 50,
            &["--json", "session", "logout-all", "--sub", "alice"],
        )
        .ok()
        .json();
    assert_eq!(v, serde_json::json!({"sub": "alice", "ended": 0}));
}

#[test]
fn usage_errors_are_exit_2() {
    let ring = ring();
    for args in [
        vec!["login"],
        vec!["login", "--sub", "alice", "--claim", "no-equals"],
        vec!["login", "--sub", "alice", "--claim", "sid=x"],
        vec!["refresh", "tgr1.x.1.y", "--grace", "soon"],
        vec!["login", "--sub", "alice", "--access-ttl", "2d"],
        vec!["login", "--sub", ""],
        vec!["list"],
        vec!["logout-all"],
        vec!["frobnicate"],
        vec!["refresh", "@/nonexistent/file"],
    ] {
        assert_eq!(fails(&ring, now(), 2, &args), "usage", "{args:?}");
    }
    let out = ring
        .at(
            now(),
            &[
                "--json",
                "--store",
                "mysql://x",
                "session",
                "list",
                "--sub",
                "a",
            ],
        )
        .code(2);
    assert_eq!(out.kind(), "usage");
}

#[test]
fn environment_failures_are_exit_3() {
    // No keyring: bad_key.
    let empty = Ring::new();
    assert_eq!(
        fails(&empty, now(), 3, &["login", "--sub", "alice"]),
        "bad_key"
    );
    // Listing needs no keyring.
    empty.at(now(), &["session", "list", "--sub", "alice"]).ok();
    // An unreachable store fails closed.
    let ring = ring();
    let port = redis_server::free_port();
    let url = format!("redis://127.0.0.1:{port}/0?timeout=300ms");
    for args in [
        vec!["login", "--sub", "alice"],
        vec!["list", "--sub", "alice"],
        vec!["logout-all", "--sub", "alice"],
    ] {
        let mut all = vec!["--json", "--store", &url, "session"];
        all.extend_from_slice(&args);
        let out = ring.at(now(), &all).code(3);
        assert_eq!(out.kind(), "store_unavailable", "{args:?}");
    }
}

#[test]
fn sessions_in_redis_are_shared_by_every_process() {
    let Some(server) =
        redis_server::RedisServer::start("sessions_in_redis_are_shared_by_every_process")
    else {
        return;
    };
    let ring = ring();
    let url = server.url("?prefix=cli:");
    let with_store = |now: i64, args: &[&str]| {
        let mut all = vec!["--json", "--store", url.as_str(), "session"];
        all.extend_from_slice(args);
        ring.at(now, &all)
    };
    let first = with_store(now(), &["login", "--sub", "alice"]).ok().json();
    let second = with_store(now() + 1, &["refresh", &field(&first, "refresh_token")])
        .ok()
        .json();
    with_store(now() + 2, &["refresh", &field(&second, "refresh_token")]).ok();
    let out = with_store(now() + 20, &["refresh", &field(&first, "refresh_token")]).code(1);
    assert_eq!(out.kind(), "reused_refresh_token");
    let list = with_store(now() + 21, &["list", "--sub", "alice"])
        .ok()
        .json();
    assert_eq!(list["sessions"], serde_json::json!([]));
    // The family lives in Redis under the session's hash tag (the digest of its id: no id is
    // in a key name), with a TTL.
    let sid = field(&first, "session_id");
    let digest = tollgate::store::EntryKey::new(
        &tollgate::keys::Namespace::Own,
        tollgate::store::Scope::Session,
        &sid,
    );
    let mut key = b"cli:v2:{s".to_vec();
    key.extend_from_slice(digest.digest());
    key.extend_from_slice(b"}:f");
    let ttl: i64 = server.cmd(redis::cmd("TTL").arg(&key));
    assert!(ttl > 0 && ttl <= 12 * 3600, "TTL {ttl}");
}
