//! `tollgate serve` as a real process (issue 11): reloads that fail closed (a keyring made
//! unreadable to the server's user, a corrupt manifest, a deleted session key), the callers
//! file's permissions and removal, per-caller permissions with the RFC 6749 §5.2 answers,
//! form-url-decoded HTTP Basic and `client_secret_post`, and login claims.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use tempfile::TempDir;

use common::http::{self, basic, get, post_form};
use common::serve::{Served, run_ok, tollgate, tollgate_bin};

const ALL: &str = "introspect,revoke,login";

/// A keyring with one key, the memory store and a credentials file, in a directory that the
/// unprivileged user `nobody` can enter (the files themselves are private to their owner).
struct Setup {
    dir: TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let setup = Setup { dir };
        run_ok(setup.cli().args(["keys", "generate"]));
        setup
    }

    fn keys(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    fn clients(&self) -> PathBuf {
        self.dir.path().join("clients")
    }

    fn cli(&self) -> Command {
        tollgate(&self.keys(), "memory:")
    }

    /// Adds a caller allowed on `allow`; returns its secret.
    fn add(&self, id: &str, allow: &str) -> String {
        run_ok(
            self.cli()
                .args(["clients", "add", id, "--allow", allow, "--clients"])
                .arg(self.clients()),
        )
    }

    fn mint(&self) -> String {
        run_ok(self.cli().args(["mint", "--sub", "alice"]))
    }

    fn clients_arg(&self) -> Vec<String> {
        vec!["--clients".into(), self.clients().to_str().unwrap().into()]
    }

    /// `tollgate serve` as root (the test's user).
    fn serve(&self) -> Served {
        let args = self.clients_arg();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.cli();
        cmd.env("TOLLGATE_LOG", "debug");
        Served::start(cmd, &args)
    }

    /// `tollgate serve` as `nobody`, over files handed to `nobody`.
    fn serve_as_nobody(&self) -> Served {
        chown_r(&self.keys(), "nobody:nogroup");
        chown_r(&self.clients(), "nobody:nogroup");
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(tollgate_bin())
            .arg("--keys")
            .arg(self.keys())
            .args(["--store", "memory:"])
            .current_dir(self.dir.path())
            .env_remove("TOLLGATE_CLIENTS")
            .env_remove("TOLLGATE_ISSUER")
            .env_remove("TOLLGATE_AUDIENCE")
            .stdin(Stdio::null());
        let args = self.clients_arg();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Served::start(cmd, &args)
    }
}

fn chown_r(path: &Path, owner: &str) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(owner)
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "chown {owner} {}", path.display());
}

fn introspect(addr: SocketAddr, auth: &str, token: &str) -> http::Response {
    post_form(addr, "/introspect", Some(auth), &format!("token={token}"))
}

/// Polls `probe` every 50 ms for at most 15 s (the watcher checks every second).
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !probe() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric(addr: SocketAddr, name: &str) -> u64 {
    let text = get(addr, "/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn issue_11_a_keyring_unreadable_to_the_server_fails_closed_and_recovers() {
    let s = Setup::new();
    let secret = s.add("api", ALL);
    let auth = basic("api", &secret);
    let token = s.mint();
    let served = s.serve_as_nobody();
    let manifest = s.keys().join("keyring.json");
    assert_eq!(
        introspect(served.addr, &auth, &token).json()["active"],
        true
    );
    assert_eq!(get(served.addr, "/healthz").status, 200);

    // As `sudo tollgate keys …` would leave it: owned by root, mode 0600.
    chown_r(&manifest, "root:root");
    eventually("healthz 503", || get(served.addr, "/healthz").status == 503);
    let health = get(served.addr, "/healthz").json();
    assert_eq!(health["keyring"], "unavailable");
    let reason = health["keyring_error"].as_str().unwrap();
    assert!(reason.contains("keyring.json"), "{reason}");
    assert!(!reason.contains(s.dir.path().to_str().unwrap()), "{reason}");
    let r = introspect(served.addr, &auth, &token);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["kind"], "bad_key");
    assert!(r.json().get("active").is_none());
    // The session endpoints fail closed too.
    let login = post_form(served.addr, "/session/login", Some(&auth), "sub=bob");
    assert_eq!(login.status, 503, "{}", login.text());
    assert_eq!(login.json()["kind"], "bad_key");
    // Counted every check, logged once (not every tick).
    eventually("three failed checks", || {
        metric(served.addr, "tollgate_keyring_reload_errors_total") >= 3
    });
    assert_eq!(metric(served.addr, "tollgate_keyring_usable"), 0);
    let log = served.log();
    assert_eq!(log.matches("keyring cannot be loaded").count(), 1, "{log}");

    // Handed back to the server's user: the next check recovers.
    chown_r(&manifest, "nobody:nogroup");
    eventually("healthz 200", || get(served.addr, "/healthz").status == 200);
    assert_eq!(
        introspect(served.addr, &auth, &token).json()["active"],
        true
    );
    assert_eq!(metric(served.addr, "tollgate_keyring_usable"), 1);
    assert!(served.log().contains("keyring readable again"));

    // A credentials file it cannot read means no callers at all, until it can.
    chown_r(&s.clients(), "root:root");
    eventually("callers refused", || {
        introspect(served.addr, &auth, &token).status == 401
    });
    assert_eq!(
        get(served.addr, "/healthz").json()["callers"],
        "unavailable"
    );
    assert_eq!(get(served.addr, "/healthz").status, 200);
    assert!(metric(served.addr, "tollgate_callers_reload_errors_total") >= 1);
    chown_r(&s.clients(), "nobody:nogroup");
    eventually("callers back", || {
        introspect(served.addr, &auth, &token).status == 200
    });
    assert_eq!(get(served.addr, "/healthz").json()["callers"], "ok");
}

#[test]
fn issue_11_a_corrupt_manifest_is_503_and_a_deleted_session_key_takes_effect() {
    let s = Setup::new();
    let secret = s.add("api", ALL);
    let auth = basic("api", &secret);
    let token = s.mint();
    let served = s.serve();
    let manifest = s.keys().join("keyring.json");
    let good = std::fs::read(&manifest).unwrap();

    std::fs::write(&manifest, b"{\"keys\": [").unwrap();
    eventually("healthz 503", || get(served.addr, "/healthz").status == 503);
    let r = introspect(served.addr, &auth, &token);
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["kind"], "bad_key");
    std::fs::write(&manifest, &good).unwrap();
    eventually("healthz 200", || get(served.addr, "/healthz").status == 200);
    assert_eq!(
        introspect(served.addr, &auth, &token).json()["active"],
        true
    );

    // A session, then its keyring's session key deleted: its refresh token stops working
    // without any other change to the keyring.
    let pair = post_form(served.addr, "/session/login", Some(&auth), "sub=alice").json();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let session_key = s.keys().join("session.key");
    assert!(session_key.exists());
    std::fs::remove_file(&session_key).unwrap();
    eventually("the old refresh token refused", || {
        let r = post_form(
            served.addr,
            "/session/refresh",
            None,
            &format!("refresh_token={refresh}"),
        );
        r.status == 401
    });
}

#[test]
fn issue_11_a_loose_callers_file_is_refused_at_start_and_means_no_callers_while_serving() {
    let s = Setup::new();
    let secret = s.add("api", "introspect");
    let auth = basic("api", &secret);
    let token = s.mint();
    let file = s.clients();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = s
        .cli()
        .args(["--json", "serve", "--listen", "127.0.0.1:0", "--clients"])
        .arg(&file)
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "bad_key");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loose permissions 0640"),
        "{v}"
    );

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let served = s.serve();
    assert_eq!(introspect(served.addr, &auth, &token).status, 200);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o604)).unwrap();
    eventually("no callers", || {
        introspect(served.addr, &auth, &token).status == 401
    });
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    eventually("callers back", || {
        introspect(served.addr, &auth, &token).status == 200
    });

    // `clients remove` takes effect in the running server.
    run_ok(
        s.cli()
            .args(["clients", "remove", "api", "--clients"])
            .arg(&file),
    );
    eventually("removed caller refused", || {
        introspect(served.addr, &auth, &token).status == 401
    });
}

#[test]
fn issue_11_permissions_answer_invalid_client_and_unauthorized_client() {
    let s = Setup::new();
    let reader = basic("reader", &s.add("reader", "introspect"));
    let revoker = basic("revoker", &s.add("revoker", "revoke"));
    let token = s.mint();
    // A line written before permissions existed keeps every endpoint.
    let legacy_secret = "tgs_legacy-secret-for-this-test-only-0123456789ab";
    let mut text = std::fs::read_to_string(s.clients()).unwrap();
    text.push_str(&format!(
        "legacy:{}\n",
        tollgate::server::hash_secret(legacy_secret)
    ));
    std::fs::write(s.clients(), text).unwrap();
    let legacy = basic("legacy", legacy_secret);
    let served = s.serve();

    let r = introspect(served.addr, &basic("reader", "tgs_wrong"), &token);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    for (path, form) in [
        ("/revoke", format!("token={token}")),
        ("/session/login", "sub=admin".to_owned()),
    ] {
        let r = post_form(served.addr, path, Some(&reader), &form);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.json()["error"], "unauthorized_client");
        assert_eq!(r.json()["kind"], "unauthorized_client");
        assert!(r.header("www-authenticate").is_none());
    }
    let r = introspect(served.addr, &revoker, &token);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unauthorized_client");
    assert_eq!(
        introspect(served.addr, &reader, &token).json()["active"],
        true
    );
    let login = post_form(served.addr, "/session/login", Some(&legacy), "sub=bob");
    assert_eq!(login.status, 200, "{}", login.text());
    let r = post_form(
        served.addr,
        "/revoke",
        Some(&revoker),
        &format!("token={token}"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        introspect(served.addr, &legacy, &token).json()["active"],
        false
    );
}

#[test]
fn issue_11_basic_is_form_url_decoded_client_secret_post_works_and_both_is_refused() {
    let s = Setup::new();
    let secret = s.add("billing-api", "introspect");
    let token = s.mint();
    let served = s.serve();

    // RFC 6749 §2.3.1: the id and the secret are form-url-encoded before base64.
    let encoded = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "billing%2Dapi:{}",
            secret.replace('_', "%5F").replace('-', "%2D")
        ))
    );
    assert_eq!(
        introspect(served.addr, &encoded, &token).json()["active"],
        true
    );

    let post = format!("token={token}&client_id=billing-api&client_secret={secret}");
    let r = post_form(served.addr, "/introspect", None, &post);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["active"], true);
    let wrong = format!("token={token}&client_id=billing-api&client_secret=tgs_wrong");
    let r = post_form(served.addr, "/introspect", None, &wrong);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    let half = format!("token={token}&client_id=billing-api");
    assert_eq!(
        post_form(served.addr, "/introspect", None, &half).status,
        401
    );

    let both = post_form(
        served.addr,
        "/introspect",
        Some(&basic("billing-api", &secret)),
        &post,
    );
    assert_eq!(both.status, 400, "{}", both.text());
    assert_eq!(both.json()["error"], "invalid_request");
    assert!(both.json().get("active").is_none());
}

#[test]
fn issue_11_login_claims_are_strict_and_the_session_names_its_caller() {
    let s = Setup::new();
    let secret = s.add("web", ALL);
    let auth = basic("web", &secret);
    let served = s.serve();
    let login_json = |body: &str| {
        http::request(
            served.addr,
            "POST",
            "/session/login",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", auth.as_str()),
            ],
            body.as_bytes(),
        )
    };

    // Duplicated members, in JSON and in a form's JSON text: refused, never last-wins.
    let r = login_json(r#"{"sub":"alice","claims":{"role":"user","role":"admin"}}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"], "invalid_request");
    let r = login_json(r#"{"sub":"alice","claims":{"a":{"b":1,"b":2}}}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = post_form(
        served.addr,
        "/session/login",
        Some(&auth),
        "sub=alice&claims=%7B%22role%22%3A%22user%22%2C%22role%22%3A%22admin%22%7D",
    );
    assert_eq!(r.status, 400, "{}", r.text());

    // Registered and reserved claims are tollgate's, never a caller's.
    for name in ["client_id", "cnf", "scope", "sub", "typ", "azp", "act"] {
        let r = login_json(&format!(r#"{{"sub":"alice","claims":{{"{name}":"x"}}}}"#));
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert_eq!(r.json()["error"], "invalid_request");
        assert_eq!(r.json()["claim"], name);
        assert!(
            r.json()["error_description"]
                .as_str()
                .unwrap()
                .contains(name)
        );
    }

    // The session records its caller; introspection reports it as client_id.
    let r = login_json(r#"{"sub":"alice","claims":{"role":"user"}}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let pair = r.json();
    let access = pair["access_token"].as_str().unwrap();
    let refresh = pair["refresh_token"].as_str().unwrap();
    let answer = introspect(served.addr, &auth, access).json();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "web");
    assert_eq!(answer["role"], "user");
    // …and so do the access tokens of its refreshes.
    let next = post_form(
        served.addr,
        "/session/refresh",
        None,
        &format!("refresh_token={refresh}"),
    )
    .json();
    let answer = introspect(served.addr, &auth, next["access_token"].as_str().unwrap()).json();
    assert_eq!(answer["client_id"], "web");
    // The audit line names the caller and the subject, never a token.
    let log = served.log();
    let line = log
        .lines()
        .find(|l| l.contains("session started for a caller"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("web") && line.contains("alice"), "{line}");
    assert!(!log.contains(access) && !log.contains(refresh));
    assert!(!log.contains(&access[access.len() - 20..]));
}

#[test]
fn issue_11_key_and_caller_commands_run_as_root_keep_the_files_readable_by_the_server() {
    use std::os::unix::fs::MetadataExt;
    let s = Setup::new();
    let auth = basic("api", &s.add("api", ALL));
    s.add("other", "introspect");
    let served = s.serve_as_nobody();
    let owner = std::fs::metadata(s.keys()).unwrap().uid();
    assert_ne!(owner, 0, "the keyring was handed to nobody");
    let generation = get(served.addr, "/healthz").json()["keyring_generation"]
        .as_u64()
        .unwrap();

    // As `sudo tollgate keys rotate` would run: root writes into nobody's keyring.
    run_ok(s.cli().args(["keys", "rotate"]));
    for entry in std::fs::read_dir(s.keys()).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        assert_eq!(
            meta.uid(),
            owner,
            "{:?} handed to the keyring's owner",
            entry.file_name()
        );
        assert_eq!(
            meta.mode() & 0o077,
            0,
            "{:?} stays private",
            entry.file_name()
        );
    }
    eventually("the rotation picked up", || {
        let health = get(served.addr, "/healthz").json();
        health["status"] == "ok" && health["keyring_generation"].as_u64().unwrap() > generation
    });
    let token = s.mint();
    assert_eq!(
        introspect(served.addr, &auth, &token).json()["active"],
        true
    );

    // `sudo tollgate clients remove`: the rewritten file stays the server's.
    run_ok(
        s.cli()
            .args(["clients", "remove", "other", "--clients"])
            .arg(s.clients()),
    );
    assert_eq!(std::fs::metadata(s.clients()).unwrap().uid(), owner);
    eventually("other removed", || {
        !std::fs::read_to_string(s.clients())
            .unwrap()
            .contains("other:")
    });
    // Read again by the server (loaded at its start, then after the change).
    eventually("the credentials reloaded", || {
        served.log().matches("caller credentials loaded").count() >= 2
    });
    assert_eq!(introspect(served.addr, &auth, &token).status, 200);
    assert_eq!(get(served.addr, "/healthz").json()["callers"], "ok");
}

/// The watcher starts watching before it trusts the first load: a key retired between the
/// server's load of the keyring and the watcher's start stops verifying. (Through the library,
/// the only way to place a change in that window deterministically; the service is real, on a
/// loopback socket.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_11_a_key_retired_while_the_server_starts_stops_verifying() {
    use std::sync::Arc;
    use tollgate::server::{App, Clients, Config, hash_secret};
    use tollgate::{Algorithm, Clock, Gate, Keyring, MintOptions, Store};

    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let clock = Clock::system();
    let mut writer = Keyring::init(&keys).unwrap();
    let first = writer.generate(Algorithm::EdDSA, None, &clock).unwrap();
    // The server's first load…
    let gate = Gate::new(Store::open("memory:").await.unwrap())
        .with_keyring(Keyring::open(&keys).unwrap());
    let token = gate.mint(&MintOptions::new("alice")).unwrap().token;
    // …then, before its watcher starts, the key is rotated out and retired.
    writer.rotate(None, false, &clock).unwrap();
    writer.retire(&first.kid, &clock).unwrap();
    // The keyring the server holds still verifies it: only a reload can refuse it.
    gate.verify::<serde_json::Value>(&token).await.unwrap();

    let secret = "tgs_startup-window-test-secret";
    let clients = Clients::parse(&format!("api:{}:introspect\n", hash_secret(secret))).unwrap();
    let app = App::new(Arc::new(gate), Config::new().with_clients(clients));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tollgate::server::serve(listener, app, async move {
        let _ = stopped.await;
    }));
    let auth = basic("api", secret);
    tokio::task::spawn_blocking(move || {
        eventually("the retired key refused", || {
            introspect(addr, &auth, &token).json()["active"] == false
        });
    })
    .await
    .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
