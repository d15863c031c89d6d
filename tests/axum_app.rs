//! The README's axum app (`examples/axum_app.rs`, the README's axum snippet) as a user runs it,
//! next to the CLI (issue 17): a token minted with `--aud api` verifies with the documented
//! audience setting, `tollgate revoke` in another process is refused at once, and after
//! `tollgate keys rotate` and `keys retire` in another process the app follows the keyring
//! without a restart.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{self, request};
use common::serve::{run_ok, tollgate, tollgate_bin};

/// The example's binary, built by `cargo test` beside the test binaries.
fn example_bin() -> PathBuf {
    let cli = tollgate_bin();
    let bin = cli
        .parent()
        .expect("target directory")
        .join("examples")
        .join("axum_app");
    assert!(
        bin.exists(),
        "{} does not exist: build it with `cargo build --example axum_app --features axum`",
        bin.display()
    );
    bin
}

struct App {
    child: Child,
    addr: SocketAddr,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(keys: &std::path::Path, store: &str) -> App {
    let mut child = Command::new(example_bin())
        .arg("127.0.0.1:0")
        .env("TOLLGATE_KEYS", keys)
        .env("TOLLGATE_STORE", store)
        .env("TOLLGATE_AUDIENCE", "api")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the example");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the example printed its address")
            .unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim().parse().expect("address");
        }
    };
    App { child, addr }
}

fn me(app: &App, token: &str) -> http::Response {
    let bearer = format!("Bearer {token}");
    request(app.addr, "GET", "/me", &[("Authorization", &bearer)], b"")
}

#[test]
fn the_readme_app_follows_the_cli_revocations_audience_and_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let store = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    let cli = || tollgate(&keys, &store);
    run_ok(cli().args(["keys", "generate"]));
    let app = start(&keys, &store);

    // The audience the README sets: a token minted with --aud api verifies, one without does not.
    let token = run_ok(cli().args(["mint", "--sub", "alice", "--aud", "api"]));
    let r = me(&app, &token);
    assert_eq!((r.status, r.text()), (200, "hello alice\n".to_owned()));
    let no_aud = run_ok(cli().args(["mint", "--sub", "alice"]));
    let r = me(&app, &no_aud);
    assert_eq!(r.status, 401);
    // The advice fits the entry point: no command-line flags in an HTTP answer.
    assert!(!r.text().contains("--"), "{}", r.text());

    // `tollgate revoke` in another process: refused at once (the same SQLite file).
    run_ok(cli().arg("revoke").arg(&token));
    let r = me(&app, &token);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("revoked"), "{}", r.text());

    // `tollgate keys rotate` in another process: the new key's tokens verify without a restart.
    let before = run_ok(cli().args(["mint", "--sub", "bob", "--aud", "api"]));
    assert_eq!(me(&app, &before).status, 200);
    let old_kid = run_ok(cli().args(["--json", "keys", "list"]));
    let old_kid: serde_json::Value = serde_json::from_str(&old_kid).unwrap();
    let old_kid = old_kid["keys"][0]["kid"].as_str().unwrap().to_owned();
    run_ok(cli().args(["keys", "rotate"]));
    let after = run_ok(cli().args(["mint", "--sub", "carol", "--aud", "api"]));
    let r = me(&app, &after);
    assert_eq!((r.status, r.text()), (200, "hello carol\n".to_owned()));

    // `tollgate keys retire` of the old key: its tokens stop verifying within the follow bound.
    run_ok(cli().args(["keys", "retire", &old_kid]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = me(&app, &before);
        if r.status == 401 {
            assert!(r.text().contains("retired_kid"), "{}", r.text());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the retired key still verifies: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(me(&app, &after).status, 200);
}
