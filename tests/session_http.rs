//! The session endpoints of `tollgate serve` as a real process on 127.0.0.1:0: login for
//! callers, refresh by body and by cookie, reuse detection over HTTP, logout and logout-all,
//! `/session/me`, refresh tokens in `/introspect` and `/revoke`, malformed bodies, a store that
//! goes down, the `--demo` routes and their in-memory keyring, and the cookie and bearer
//! rules of issue 11.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tempfile::TempDir;

use common::RedisServer;
use common::http::{self, basic, get, post_form, request};
use common::serve::{Served, run_ok, tollgate};

/// A keyring with one key, a SQLite store and a caller in a temporary directory.
struct Setup {
    dir: TempDir,
    store: String,
    auth: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let store = format!("sqlite:{}", dir.path().join("tollgate.db").display());
        let mut setup = Setup {
            dir,
            store,
            auth: String::new(),
        };
        run_ok(setup.cli().args(["keys", "generate"]));
        let secret = run_ok(
            setup
                .cli()
                // Every endpoint: new callers default to introspect only (issue 11).
                .args([
                    "clients",
                    "add",
                    "web",
                    "--allow",
                    "introspect,revoke,login",
                    "--clients",
                ])
                .arg(setup.clients()),
        );
        setup.auth = basic("web", &secret);
        setup
    }

    fn keys(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    fn clients(&self) -> PathBuf {
        self.dir.path().join("clients")
    }

    fn cli(&self) -> Command {
        tollgate(&self.keys(), &self.store)
    }

    fn serve(&self, extra: &[&str]) -> Served {
        self.serve_on(&self.store, extra)
    }

    fn serve_on(&self, store: &str, extra: &[&str]) -> Served {
        let clients = self.clients();
        let mut args = vec!["--clients", clients.to_str().unwrap()];
        args.extend_from_slice(extra);
        let mut cmd = tollgate(&self.keys(), store);
        // Debug logs on, to check that even they carry no token or secret.
        cmd.env("TOLLGATE_LOG", "debug")
            .env_remove("TOLLGATE_ACCESS_TTL")
            .env_remove("TOLLGATE_GRACE");
        Served::start(cmd, &args)
    }
}

/// A login by the caller; panics unless it is 200.
fn login(addr: SocketAddr, auth: &str, form: &str) -> Value {
    let r = post_form(addr, "/session/login", Some(auth), form);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn set_cookies(r: &http::Response) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The value a `Set-Cookie` gives the cookie `name`.
fn cookie_value<'r>(r: &'r http::Response, name: &str) -> Option<&'r str> {
    set_cookies(r).into_iter().find_map(|c| {
        c.split(';')
            .next()
            .and_then(|pair| pair.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix('='))
    })
}

/// Both cookies cleared (`Max-Age=0`), and the refresh cookie of earlier versions.
fn assert_cookies_cleared(r: &http::Response) {
    let cookies = set_cookies(r);
    for name in [
        "__Host-tollgate-access=;",
        "__Host-tollgate-refresh=;",
        "__Secure-tollgate-refresh=;",
    ] {
        assert!(
            cookies
                .iter()
                .any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
            "{name} not cleared: {cookies:?}"
        );
    }
}

fn error_kind(r: &http::Response) -> String {
    let body = r.json();
    // Every error answer: {"error": <OAuth code>, "error_description", "kind": <tollgate kind>}.
    assert!(body["error"].is_string(), "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body["kind"].as_str().unwrap_or_default().to_owned()
}

fn bearer_get(addr: SocketAddr, path: &str, token: &str) -> http::Response {
    request(
        addr,
        "GET",
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
}

fn with_cookie(addr: SocketAddr, method: &str, path: &str, cookie: &str) -> http::Response {
    request(addr, method, path, &[("Cookie", cookie)], b"")
}

fn introspect(addr: SocketAddr, auth: &str, form: &str) -> Value {
    let r = post_form(addr, "/introspect", Some(auth), form);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn metric(addr: SocketAddr, line_start: &str) -> String {
    let text = get(addr, "/metrics").text();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
        .to_owned()
}

#[test]
fn login_needs_caller_credentials_and_answers_the_cli_pair() {
    let s = Setup::new();
    let served = s.serve(&[]);
    let addr = served.addr;
    for auth in [None, Some(basic("web", "tgs_wrong").as_str())] {
        let r = post_form(addr, "/session/login", auth, "sub=alice");
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.json()["error"], "invalid_client");
    }

    let pair = login(addr, &s.auth, "sub=alice");
    let keys: Vec<&str> = pair
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
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

    // JSON body with claims, remembered; the claims reach the access token.
    let r = request(
        addr,
        "POST",
        "/session/login",
        &[
            ("Authorization", &s.auth),
            ("Content-Type", "application/json"),
        ],
        br#"{"sub":"bob","remember_me":true,"claims":{"role":"admin","tier":2},"user_agent":"Firefox","ip":"203.0.113.9"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let pair = r.json();
    assert_eq!(
        (&pair["remember_me"], &pair["refresh_expires_in"]),
        (&json!(true), &json!(30 * 86400))
    );
    assert!(set_cookies(&r).is_empty(), "no cookies unless asked");
    let me = bearer_get(addr, "/session/me", pair["access_token"].as_str().unwrap());
    assert_eq!(me.status, 200, "{}", me.text());
    let me = me.json();
    assert_eq!(me["sub"], "bob");
    assert_eq!(me["claims"]["role"], "admin");
    assert_eq!(me["claims"]["tier"], 2);
    assert_eq!(me["sid"], pair["session_id"]);
    assert_eq!(me["session"]["remember_me"], true);
    assert_eq!(me["session"]["device"]["ip"], "203.0.113.9");
    assert!(me["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(
        !me.to_string()
            .contains(pair["access_token"].as_str().unwrap())
    );

    // Claims as JSON text in a form; cookies asked in the query string.
    let r = post_form(
        addr,
        "/session/login?cookies=1",
        Some(&s.auth),
        "sub=carol&remember_me=on&claims=%7B%22role%22%3A%22ops%22%7D",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let pair = r.json();
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies[0].starts_with(&format!(
        "__Host-tollgate-access={}; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=Lax",
        pair["access_token"].as_str().unwrap()
    )));
    assert_eq!(
        cookies[1],
        format!(
            "__Host-tollgate-refresh={}; Max-Age=2592000; Path=/; Secure; HttpOnly; SameSite=Strict",
            pair["refresh_token"].as_str().unwrap()
        )
    );
    // Not remembered: a browser-session refresh cookie.
    let r = post_form(
        addr,
        "/session/login",
        Some(&s.auth),
        "sub=dave&cookies=true",
    );
    assert!(
        !set_cookies(&r)[1].contains("Max-Age"),
        "{:?}",
        set_cookies(&r)
    );
    let text = served.log();
    assert!(
        !text.contains(pair["refresh_token"].as_str().unwrap())
            && !text.contains(pair["access_token"].as_str().unwrap()),
        "no token in the logs"
    );
}

#[test]
fn refresh_by_body_answers_a_pair_and_by_cookie_new_cookies_without_tokens() {
    let s = Setup::new();
    let served = s.serve(&[]);
    let addr = served.addr;
    let first = login(addr, &s.auth, "sub=alice&remember_me=1");

    let r = post_form(
        addr,
        "/session/refresh",
        None,
        &format!("refresh_token={}", first["refresh_token"].as_str().unwrap()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let second = r.json();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["session_id"], first["session_id"]);
    assert!(set_cookies(&r).is_empty());

    // The browser way: the refresh cookie, and a bare POST.
    let cookie = format!(
        "__Host-tollgate-refresh={}",
        second["refresh_token"].as_str().unwrap()
    );
    let r = with_cookie(addr, "POST", "/session/refresh", &cookie);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(body["session_id"], first["session_id"]);
    assert_eq!(body["remember_me"], true);
    let access = cookie_value(&r, "__Host-tollgate-access").expect("access cookie");
    let refresh = cookie_value(&r, "__Host-tollgate-refresh").expect("refresh cookie");
    assert!(refresh.starts_with("tgr1.") && refresh != second["refresh_token"]);
    assert!(set_cookies(&r)[1].contains("Max-Age=2592000"));
    let me = with_cookie(
        addr,
        "GET",
        "/session/me",
        &format!("__Host-tollgate-access={access}"),
    );
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["session"]["generation"], 3);

    // Nothing to refresh with.
    let r = request(addr, "POST", "/session/refresh", &[], b"");
    assert_eq!((r.status, error_kind(&r).as_str()), (401, "missing_token"));
    // An access token is not a refresh token.
    let r = post_form(
        addr,
        "/session/refresh",
        None,
        &format!("refresh_token={access}"),
    );
    assert_eq!(
        (r.status, error_kind(&r).as_str()),
        (401, "wrong_token_type")
    );
    // A well-formed token of a session that never existed.
    let unknown = format!(
        "tgr1.3f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b.1.{}",
        "A".repeat(43)
    );
    let r = post_form(
        addr,
        "/session/refresh",
        None,
        &format!("refresh_token={unknown}"),
    );
    assert_eq!(
        (r.status, error_kind(&r).as_str()),
        (401, "unknown_session")
    );
    assert_cookies_cleared(&r);
}

#[test]
fn reuse_is_401_clears_the_cookies_revokes_the_session_and_is_counted() {
    let s = Setup::new();
    let served = s.serve(&["--grace", "0"]);
    let addr = served.addr;
    let first = login(addr, &s.auth, "sub=alice");
    let spent = first["refresh_token"].as_str().unwrap();
    let r = with_cookie(
        addr,
        "POST",
        "/session/refresh",
        &format!("__Host-tollgate-refresh={spent}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let current_access = cookie_value(&r, "__Host-tollgate-access")
        .unwrap()
        .to_owned();
    let current_refresh = cookie_value(&r, "__Host-tollgate-refresh")
        .unwrap()
        .to_owned();
    assert_eq!(bearer_get(addr, "/session/me", &current_access).status, 200);

    // The thief (or a confused client) presents the spent token again.
    let r = with_cookie(
        addr,
        "POST",
        "/session/refresh",
        &format!("__Host-tollgate-refresh={spent}"),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(error_kind(&r), "reused_refresh_token");
    assert_cookies_cleared(&r);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.contains("reused_refresh_token"))
    );

    // The whole session is revoked: its live access token and its current refresh token.
    let me = bearer_get(addr, "/session/me", &current_access);
    assert_eq!((me.status, error_kind(&me).as_str()), (401, "revoked"));
    assert_eq!(me.json()["scope"], "session");
    assert_eq!(
        introspect(addr, &s.auth, &format!("token={current_access}")),
        json!({"active": false})
    );
    let r = post_form(
        addr,
        "/session/refresh",
        None,
        &format!("refresh_token={current_refresh}"),
    );
    assert_eq!(
        (r.status, error_kind(&r).as_str()),
        (401, "unknown_session")
    );
    assert_eq!(
        metric(addr, "tollgate_refresh_reuse_detections_total"),
        "tollgate_refresh_reuse_detections_total 1"
    );
    assert_eq!(
        metric(addr, "tollgate_session_events_total{event=\"refresh\"}"),
        "tollgate_session_events_total{event=\"refresh\"} 1"
    );
}

#[test]
fn logout_ends_one_session_and_logout_all_every_session_of_the_user() {
    let s = Setup::new();
    let served = s.serve(&[]);
    let addr = served.addr;
    let a1 = login(addr, &s.auth, "sub=alice");
    let a2 = login(addr, &s.auth, "sub=alice&remember_me=1");
    let a3 = login(addr, &s.auth, "sub=alice");
    let b = login(addr, &s.auth, "sub=bob");
    let token = |v: &Value, name: &str| v[name].as_str().unwrap().to_owned();

    // Logout with the access token in the bearer header.
    let r = request(
        addr,
        "POST",
        "/session/logout",
        &[(
            "Authorization",
            &format!("Bearer {}", token(&a1, "access_token")),
        )],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"logged_out": true}));
    assert_cookies_cleared(&r);
    assert_eq!(
        error_kind(&bearer_get(
            addr,
            "/session/me",
            &token(&a1, "access_token")
        )),
        "revoked"
    );

    // A forged refresh token (the right session id, a wrong secret) ends nothing.
    let sid = token(&a3, "session_id");
    let forged = format!("tgr1.{sid}.1.{}", "A".repeat(43));
    let r = post_form(addr, "/session/logout", None, &format!("token={forged}"));
    assert_eq!(
        (r.status, error_kind(&r).as_str()),
        (401, "unknown_session")
    );
    assert_eq!(
        bearer_get(addr, "/session/me", &token(&a3, "access_token")).status,
        200
    );
    let r = post_form(addr, "/revoke", Some(&s.auth), &format!("token={forged}"));
    assert_eq!(r.status, 200);
    assert_eq!(
        bearer_get(addr, "/session/me", &token(&a3, "access_token")).status,
        200,
        "a forged refresh token revokes nothing"
    );

    // Logout with the refresh token in a JSON body.
    let r = request(
        addr,
        "POST",
        "/session/logout",
        &[("Content-Type", "application/json")],
        json!({"refresh_token": token(&a3, "refresh_token")})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        error_kind(&bearer_get(
            addr,
            "/session/me",
            &token(&a3, "access_token")
        )),
        "revoked"
    );

    // No token at all.
    let r = request(addr, "POST", "/session/logout", &[], b"");
    assert_eq!((r.status, error_kind(&r).as_str()), (401, "missing_token"));
    let r = request(addr, "POST", "/session/logout-all", &[], b"");
    assert_eq!((r.status, error_kind(&r).as_str()), (401, "missing_token"));

    // Logout everywhere with the access cookie: alice's sessions end, bob's does not.
    let r = with_cookie(
        addr,
        "POST",
        "/session/logout-all",
        &format!("__Host-tollgate-access={}", token(&a2, "access_token")),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"logged_out": true, "sub": "alice", "ended": 1})
    );
    assert_cookies_cleared(&r);
    assert_eq!(
        error_kind(&bearer_get(
            addr,
            "/session/me",
            &token(&a2, "access_token")
        )),
        "revoked"
    );
    let r = post_form(
        addr,
        "/session/refresh",
        None,
        &format!("refresh_token={}", token(&a2, "refresh_token")),
    );
    // Ended by a user revocation: the refresh says so, with the scope (issue 8).
    assert_eq!(error_kind(&r), "revoked");
    assert_eq!(r.json()["scope"], "user", "{}", r.text());
    assert_eq!(
        bearer_get(addr, "/session/me", &token(&b, "access_token")).status,
        200
    );
    // A revoked access token cannot log out everywhere again.
    let r = request(
        addr,
        "POST",
        "/session/logout-all",
        &[(
            "Authorization",
            &format!("Bearer {}", token(&a2, "access_token")),
        )],
        b"",
    );
    assert_eq!((r.status, error_kind(&r).as_str()), (401, "revoked"));

    // Logout everywhere with a refresh token works too.
    let r = post_form(
        addr,
        "/session/logout-all",
        None,
        &format!("token={}", token(&b, "refresh_token")),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["sub"], "bob");
    assert_eq!(
        metric(addr, "tollgate_session_events_total{event=\"logout_all\"}"),
        "tollgate_session_events_total{event=\"logout_all\"} 2"
    );

    // A cross-origin browser POST never reaches the handler.
    let c = login(addr, &s.auth, "sub=carol");
    let r = request(
        addr,
        "POST",
        "/session/logout-all",
        &[
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
            (
                "Cookie",
                &format!("__Host-tollgate-access={}", token(&c, "access_token")),
            ),
        ],
        b"",
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        bearer_get(addr, "/session/me", &token(&c, "access_token")).status,
        200
    );
}

#[test]
fn malformed_bodies_are_400_invalid_request_never_415_422_or_5xx() {
    let s = Setup::new();
    let served = s.serve(&[]);
    let addr = served.addr;
    let auth = s.auth.as_str();
    let form = "application/x-www-form-urlencoded";
    let json_type = "application/json";
    let cases: &[(&str, &str, &[u8])] = &[
        ("/session/login", json_type, b"{\"sub\":"),
        ("/session/login", json_type, b"[1,2]"),
        ("/session/login", json_type, b"{\"sub\":5}"),
        ("/session/login", "text/plain", b"sub=alice"),
        ("/session/login", form, b"sub=a&sub=b"),
        ("/session/login", form, b"sub=alice&remember_me=maybe"),
        ("/session/login", form, b"remember_me=1"),
        ("/session/login", form, b"sub=%20%20"),
        ("/session/login", form, b"sub=alice&claims=not-json"),
        ("/session/login", form, b"sub=alice&claims=%5B1%5D"),
        (
            "/session/login",
            json_type,
            b"{\"sub\":\"a\",\"claims\":{\"sid\":\"x\"}}",
        ),
        (
            "/session/login",
            json_type,
            b"{\"sub\":\"a\",\"claims\":{\"exp\":1}}",
        ),
        ("/session/refresh", json_type, b"{\"refresh_token\":[]}"),
        ("/session/refresh", "application/xml", b"<x/>"),
        (
            "/session/refresh",
            form,
            b"refresh_token=%ZZ&refresh_token=b",
        ),
        ("/session/logout", json_type, b"nope"),
        ("/session/logout-all", form, b"token=a&token=b"),
        ("/demo/login", json_type, b"{"),
    ];
    for (path, content_type, body) in cases {
        let r = request(
            addr,
            "POST",
            path,
            &[("Authorization", auth), ("Content-Type", content_type)],
            body,
        );
        if *path == "/demo/login" {
            assert_eq!(r.status, 404, "no demo routes without --demo");
            continue;
        }
        assert_eq!(
            r.status,
            400,
            "{path} {content_type} {:?}: {}",
            String::from_utf8_lossy(body),
            r.text()
        );
        assert_eq!(r.json()["error"], "invalid_request", "{}", r.text());
    }
    let r = post_form(addr, "/session/login?cookies=perhaps", Some(auth), "sub=a");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // Over the body limit: 413, still invalid_request.
    let big = format!("refresh_token={}", "a".repeat(70 * 1024));
    let r = post_form(addr, "/session/refresh", None, &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"], "invalid_request");
}

#[test]
fn introspect_and_revoke_take_refresh_tokens() {
    let s = Setup::new();
    let served = s.serve(&["--grace", "0"]);
    let addr = served.addr;
    let pair = login(addr, &s.auth, "sub=alice&remember_me=1");
    let refresh = pair["refresh_token"].as_str().unwrap();
    let access = pair["access_token"].as_str().unwrap();

    for form in [
        format!("token={refresh}"),
        format!("token={refresh}&token_type_hint=refresh_token"),
        // A wrong hint changes nothing: the format says what the token is.
        format!("token={refresh}&token_type_hint=access_token"),
    ] {
        let v = introspect(addr, &s.auth, &form);
        assert_eq!(v["active"], true, "{v}");
        assert_eq!(v["token_type"], "refresh_token");
        assert_eq!(v["sub"], "alice");
        assert_eq!(v["sid"], pair["session_id"]);
        assert_eq!(v["remember_me"], true);
        assert_eq!(v["generation"], 1);
        assert!(v["exp"].as_i64().unwrap() > v["iat"].as_i64().unwrap());
        let text = v.to_string();
        let secret = refresh.rsplit('.').next().unwrap();
        assert!(!text.contains(secret), "no secret in {text}");
    }
    // Issue 11: an access token's token_type is its OAuth type (RFC 7662 §2.2), and differs
    // from a refresh token's.
    let v = introspect(addr, &s.auth, &format!("token={access}"));
    assert_eq!(v["token_type"], "Bearer");

    // Introspection does not spend the token: it still rotates, once.
    let r = post_form(
        addr,
        "/session/refresh",
        None,
        &format!("refresh_token={refresh}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let next = r.json();
    let next_refresh = next["refresh_token"].as_str().unwrap();
    // The spent one is inactive, and asking about it is not a reuse.
    assert_eq!(
        introspect(addr, &s.auth, &format!("token={refresh}")),
        json!({"active": false})
    );
    assert_eq!(
        introspect(addr, &s.auth, &format!("token={next_refresh}"))["generation"],
        2
    );
    assert_eq!(
        metric(addr, "tollgate_refresh_reuse_detections_total"),
        "tollgate_refresh_reuse_detections_total 0"
    );
    for junk in [
        "tgr1.junk",
        "tgr1.3f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b.1.AAAA",
    ] {
        assert_eq!(
            introspect(addr, &s.auth, &format!("token={junk}")),
            json!({"active": false})
        );
    }

    // RFC 7009: revoking the refresh token ends the session and its access tokens.
    let r = post_form(
        addr,
        "/revoke",
        Some(&s.auth),
        &format!("token={next_refresh}&token_type_hint=refresh_token"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        introspect(addr, &s.auth, &format!("token={next_refresh}")),
        json!({"active": false})
    );
    assert_eq!(
        introspect(
            addr,
            &s.auth,
            &format!("token={}", next["access_token"].as_str().unwrap())
        ),
        json!({"active": false})
    );
    let r = post_form(
        addr,
        "/session/refresh",
        None,
        &format!("refresh_token={next_refresh}"),
    );
    assert_eq!(error_kind(&r), "unknown_session");
    // Revoking it again, or junk, is still 200.
    for token in [next_refresh, "tgr1.junk"] {
        let r = post_form(addr, "/revoke", Some(&s.auth), &format!("token={token}"));
        assert_eq!(r.status, 200);
    }
    // Callers only.
    let r = post_form(addr, "/introspect", None, &format!("token={next_refresh}"));
    assert_eq!(r.status, 401);
}

#[test]
fn a_store_that_goes_down_is_503_and_keeps_the_cookies() {
    let Some(mut redis) = RedisServer::start("session_http_store_down") else {
        return;
    };
    let s = Setup::new();
    let served = s.serve_on(&redis.url("?timeout=200ms"), &[]);
    let addr = served.addr;
    let pair = login(addr, &s.auth, "sub=alice");
    let refresh = pair["refresh_token"].as_str().unwrap();
    let access = pair["access_token"].as_str().unwrap();

    redis.stop();
    let r = with_cookie(
        addr,
        "POST",
        "/session/refresh",
        &format!("__Host-tollgate-refresh={refresh}"),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(error_kind(&r), "store_unavailable");
    assert!(set_cookies(&r).is_empty(), "a 503 keeps the cookies");
    let r = post_form(addr, "/session/login", Some(&s.auth), "sub=alice");
    assert_eq!(
        (r.status, error_kind(&r).as_str()),
        (503, "store_unavailable")
    );
    let r = bearer_get(addr, "/session/me", access);
    assert_eq!(r.status, 503);
    let r = post_form(addr, "/session/logout", None, &format!("token={access}"));
    assert_eq!(r.status, 503);
    assert!(set_cookies(&r).is_empty());
    let r = post_form(
        addr,
        "/introspect",
        Some(&s.auth),
        &format!("token={refresh}"),
    );
    assert_eq!(r.status, 503);
    assert!(!r.text().contains(&redis.port().to_string()));

    // The restarted server kept nothing (no persistence): a new login works again.
    redis.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while post_form(addr, "/session/login", Some(&s.auth), "sub=alice").status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the store never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn demo_serves_a_page_and_a_passwordless_login_with_short_access_tokens() {
    let s = Setup::new();
    let served = s.serve(&["--demo"]);
    let addr = served.addr;
    assert!(served.log().contains("DEMO MODE"), "{}", served.log());
    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(page.text().contains("DEMO"));
    for (path, kind) in [("/demo.js", "text/javascript"), ("/demo.css", "text/css")] {
        let r = get(addr, path);
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").unwrap().starts_with(kind));
    }

    // No caller credentials; cookies set, no token in the body.
    let r = post_form(addr, "/demo/login", None, "sub=alice&remember_me=on");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(body["expires_in"], 30, "--demo: 30 s access tokens");
    assert_eq!(body["remember_me"], true);
    let access = cookie_value(&r, "__Host-tollgate-access").unwrap();
    let me = with_cookie(
        addr,
        "GET",
        "/session/me",
        &format!("__Host-tollgate-access={access}"),
    )
    .json();
    assert_eq!(
        (me["sub"].as_str(), &me["claims"]["demo"]),
        (Some("alice"), &json!(true))
    );
    assert_eq!(
        me["claims"]["aud"], "tollgate-demo",
        "issue 11: the demo's audience"
    );
    let r = post_form(addr, "/demo/login", None, "sub=");
    assert_eq!(r.status, 400);
    drop(served);

    // --access-ttl wins over the demo's default.
    let served = s.serve(&["--demo", "--access-ttl", "45s"]);
    let r = post_form(served.addr, "/demo/login", None, "sub=alice");
    assert_eq!(r.json()["expires_in"], 45);
    drop(served);

    // Without --demo there is no page and no password-less login.
    let served = s.serve(&[]);
    assert_eq!(get(served.addr, "/").status, 404);
    assert_eq!(
        post_form(served.addr, "/demo/login", None, "sub=alice").status,
        404
    );
}

/// The claims of a JWS, decoded without verification (to look at `aud`).
fn payload(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("a JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Issue 11 (changed on purpose: this test used to check that `--demo` created `--keys` with one
/// EdDSA key and that `keys list` showed it): the demo refuses a non-loopback address, runs on
/// an in-memory key and the memory store whatever `--keys` and `--store` say, writes nothing,
/// and its tokens verify nowhere else.
#[test]
fn issue_11_demo_is_loopback_only_in_memory_and_its_tokens_verify_nowhere_else() {
    let s = Setup::new();
    // The demo's working directory and the keyring and store it is pointed at: all must stay
    // empty or absent.
    let cwd = tempfile::tempdir().unwrap();
    let demo_keys = cwd.path().join("prod-keys");
    let demo_store = format!("sqlite:{}", cwd.path().join("prod.db").display());
    let demo_cmd = || {
        let mut cmd = tollgate(&demo_keys, &demo_store);
        cmd.current_dir(cwd.path())
            .env_remove("TOLLGATE_ACCESS_TTL")
            .env_remove("TOLLGATE_GRACE");
        cmd
    };

    // Without --demo a missing keyring is still an environment failure (exit 3), and nothing
    // is created (kept from the test this one replaces). The memory store: plain serve opens
    // its store before it finds the keyring missing.
    let out = tollgate(&demo_keys, "memory:")
        .current_dir(cwd.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--clients",
            "absent-clients",
        ])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "missing keyring: exit 3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!demo_keys.exists());

    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080"] {
        let out = demo_cmd()
            .args(["serve", "--demo", "--listen", listen])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{listen}: usage error; {stderr}"
        );
        assert!(
            stderr.contains(&format!("--demo refuses --listen {listen}"))
                && stderr.contains("without a password")
                && stderr.contains("--listen 127.0.0.1:"),
            "why and what to do: {stderr}"
        );
    }
    let out = demo_cmd()
        .args([
            "serve",
            "--demo",
            "--trust-issuer",
            "https://i.example=https://i.example/jwks",
        ])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--demo trusts no other issuer");

    let served = Served::start(demo_cmd(), &["--demo"]);
    let log = served.log();
    assert!(
        log.contains("generated in memory and never written to disk"),
        "{log}"
    );
    assert!(
        log.contains("ignoring the keyring") && log.contains("the store (--store"),
        "says it ignores --keys and --store: {log}"
    );
    assert!(
        !log.contains("prod.db"),
        "the store URL is not echoed: {log}"
    );
    assert!(log.contains("store memory:"), "{log}");

    let r = post_form(served.addr, "/demo/login", None, "sub=admin");
    assert_eq!(r.status, 200, "{}", r.text());
    let token = cookie_value(&r, "__Host-tollgate-access")
        .unwrap()
        .to_owned();
    assert_eq!(payload(&token)["aud"], "tollgate-demo");
    let me = bearer_get(served.addr, "/session/me", &token);
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["claims"]["aud"], "tollgate-demo");
    // The demo's JWK Set publishes its one in-memory key.
    let jwks = get(served.addr, "/.well-known/jwks.json").json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], me.json()["kid"]);

    // A token of the real keyring is nothing to the demo (it trusts only its own key), even
    // with the demo's audience.
    let real = run_ok(
        s.cli()
            .args(["mint", "--sub", "alice", "--aud", "tollgate-demo"]),
    );
    let r = bearer_get(served.addr, "/session/me", &real);
    assert_eq!(r.status, 401, "{}", r.text());

    // The demo token fails verification against a real keyring directory…
    let out = s.cli().args(["--json", "verify", &token]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["error"]["kind"], "unknown_kid", "{answer}");
    // …and against the directory the demo was given as --keys, where nothing was created.
    // (The memory store here: `verify` would create the SQLite file it is pointed at.)
    let out = tollgate(&demo_keys, "memory:")
        .args(["verify", &token])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "no keyring there");
    drop(served);
    assert!(!demo_keys.exists(), "the demo created no keyring");
    let left: Vec<_> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "nothing written in the working directory (no ./keys, no ./tollgate.db): {left:?}"
    );

    // The same through TOLLGATE_KEYS and TOLLGATE_STORE, and with neither (./keys and
    // ./tollgate.db are the defaults): ignored, nothing written.
    for with_env in [true, false] {
        let mut cmd = Command::new(common::serve::tollgate_bin());
        cmd.current_dir(cwd.path())
            .env_remove("TOLLGATE_KEYS")
            .env_remove("TOLLGATE_STORE")
            .env_remove("TOLLGATE_CLIENTS")
            .env_remove("TOLLGATE_AUDIENCE")
            .env_remove("TOLLGATE_ISSUER")
            .stdin(Stdio::null());
        if with_env {
            cmd.env("TOLLGATE_KEYS", &demo_keys)
                .env("TOLLGATE_STORE", &demo_store);
        }
        let served = Served::start(cmd, &["--demo"]);
        let log = served.log();
        assert_eq!(
            log.contains("ignoring the keyring") && log.contains("the store (--store"),
            with_env,
            "{log}"
        );
        let r = post_form(served.addr, "/demo/login", None, "sub=alice");
        assert_eq!(r.status, 200, "{}", r.text());
        drop(served);
        assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
    }
}

/// Issue 11: the refresh cookie is `__Host-` on `/`; a request that carries it twice, or the
/// access cookie twice, or a token two ways, is 400 `invalid_request` and nothing is chosen or
/// spent; the old `__Secure-` cookie is never read and gets cleared.
#[test]
fn issue_11_two_refresh_cookies_and_ambiguous_credentials_are_refused_never_chosen() {
    let s = Setup::new();
    let served = s.serve(&["--grace", "0"]);
    let addr = served.addr;
    let alice = login(addr, &s.auth, "sub=alice");
    let mallory = login(addr, &s.auth, "sub=mallory");
    let rt = |pair: &Value| pair["refresh_token"].as_str().unwrap().to_owned();
    let at = |pair: &Value| pair["access_token"].as_str().unwrap().to_owned();
    let (alice_rt, mallory_rt) = (rt(&alice), rt(&mallory));

    let refused = |r: &http::Response, what: &str| {
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert_eq!(r.json()["error"], "invalid_request", "{what}");
        assert_eq!(error_kind(r), "usage", "{what}");
        for token in [&alice_rt, &mallory_rt, &at(&alice), &at(&mallory)] {
            assert!(
                !r.text().contains(token.as_str()),
                "{what}: no token in the answer"
            );
        }
    };
    let one_header =
        format!("__Host-tollgate-refresh={mallory_rt}; __Host-tollgate-refresh={alice_rt}");
    let r = with_cookie(addr, "POST", "/session/refresh", &one_header);
    refused(&r, "two refresh cookies in one header");
    let r = request(
        addr,
        "POST",
        "/session/refresh",
        &[
            ("Cookie", &format!("__Host-tollgate-refresh={mallory_rt}")),
            ("Cookie", &format!("__Host-tollgate-refresh={alice_rt}")),
        ],
        b"",
    );
    refused(&r, "two refresh cookies in two headers");
    let r = with_cookie(addr, "POST", "/session/logout", &one_header);
    refused(&r, "logout with two refresh cookies");
    // Attack review: a refresh token in the body beside the refresh cookie used to let the
    // body win silently.
    let r = request(
        addr,
        "POST",
        "/session/refresh",
        &[
            ("Cookie", &format!("__Host-tollgate-refresh={mallory_rt}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("refresh_token={alice_rt}").as_bytes(),
    );
    refused(&r, "a refresh token in the body and the cookie");
    // Neither was spent or chosen: each still rotates once, at generation 1.
    for token in [&alice_rt, &mallory_rt] {
        let r = post_form(
            addr,
            "/session/refresh",
            None,
            &format!("refresh_token={token}"),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }

    let alice_at = at(&alice);
    let mallory_at = at(&mallory);
    let r = with_cookie(
        addr,
        "GET",
        "/session/me",
        &format!("__Host-tollgate-access=; __Host-tollgate-access={mallory_at}"),
    );
    refused(&r, "an empty access cookie, then another");
    let r = request(
        addr,
        "GET",
        "/session/me",
        &[
            ("Authorization", &format!("Bearer {alice_at}")),
            ("Cookie", &format!("__Host-tollgate-access={mallory_at}")),
        ],
        b"",
    );
    refused(&r, "a bearer header and the access cookie");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer error=\"invalid_request\"")
    );
    let r = request(
        addr,
        "GET",
        "/session/me",
        &[("Authorization", &format!("Bearer\t{alice_at}"))],
        b"",
    );
    refused(&r, "Bearer<TAB>token");
    let r = request(
        addr,
        "POST",
        "/session/logout-all",
        &[
            ("Authorization", &format!("Bearer {alice_at}")),
            ("Authorization", &format!("Bearer {mallory_at}")),
        ],
        b"",
    );
    refused(&r, "two Authorization headers");
    // Nobody was logged out by the refused requests.
    assert_eq!(bearer_get(addr, "/session/me", &alice_at).status, 200);
    assert_eq!(bearer_get(addr, "/session/me", &mallory_at).status, 200);

    // The refresh cookie of earlier versions is not read, and the answer clears it.
    let fresh = login(addr, &s.auth, "sub=carol");
    let r = with_cookie(
        addr,
        "POST",
        "/session/refresh",
        &format!("__Secure-tollgate-refresh={}", rt(&fresh)),
    );
    assert_eq!((r.status, error_kind(&r).as_str()), (401, "missing_token"));
    assert!(
        set_cookies(&r)
            .iter()
            .any(|c| c.starts_with("__Secure-tollgate-refresh=; Max-Age=0; Path=/session/refresh")),
        "{:?}",
        set_cookies(&r)
    );
    // Beside the new cookie it is no second refresh cookie; the new one is used.
    let r = with_cookie(
        addr,
        "POST",
        "/session/refresh",
        &format!(
            "__Secure-tollgate-refresh=stale; __Host-tollgate-refresh={}",
            rt(&fresh)
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(cookie_value(&r, "__Host-tollgate-refresh").is_some());
    assert_eq!(
        cookie_value(&r, "__Secure-tollgate-refresh"),
        Some(""),
        "cleared"
    );
}

#[test]
fn issue_17_a_trusted_origin_matches_as_a_browser_sends_it() {
    let s = Setup::new();
    // Written the way people paste it; kept the way a browser sends `Origin`.
    let served = s.serve(&["--trusted-origin", "HTTPS://App.Example.com:443"]);
    assert!(
        served
            .log()
            .contains("trusted origins, as browsers send them: https://app.example.com"),
        "{}",
        served.log()
    );
    let cross_site = |origin: &str| {
        request(
            served.addr,
            "POST",
            "/session/logout",
            &[("Origin", origin), ("Sec-Fetch-Site", "cross-site")],
            b"",
        )
    };
    // The trusted origin passes the CSRF check and reaches the handler, which finds no token.
    let r = cross_site("https://app.example.com");
    assert_ne!(r.status, 403, "{}", r.text());
    assert_eq!(error_kind(&r), "missing_token", "{}", r.text());
    // Any other origin never does.
    assert_eq!(cross_site("https://evil.example").status, 403);
    assert_eq!(cross_site("https://app.example.com:8443").status, 403);
}
