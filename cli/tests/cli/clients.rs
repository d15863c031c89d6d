//! `tollgate clients`: add with permissions, list them, remove, and the file's mode (issue 11).

use crate::common::Ring;

fn clients(ring: &Ring, args: &[&str]) -> crate::common::Out {
    let file = ring.path("clients");
    let mut all = vec!["clients"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--clients", file.to_str().unwrap()]);
    ring.run(&all)
}

#[test]
fn issue_11_add_allows_introspect_by_default_and_list_shows_permissions() {
    let ring = Ring::new();
    let added = clients(&ring, &["--json", "add", "billing-api"])
        .ok()
        .json();
    assert_eq!(added["client_id"], "billing-api");
    assert_eq!(added["allow"], serde_json::json!(["introspect"]));
    assert!(added["secret"].as_str().unwrap().starts_with("tgs_"));
    let web = clients(
        &ring,
        &[
            "--json",
            "add",
            "web",
            "--allow",
            "login, revoke,introspect",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        web["allow"],
        serde_json::json!(["introspect", "revoke", "login"])
    );
    // A line from before permissions existed may call everything.
    let file = ring.path("clients");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!("legacy:{}\n", "ab".repeat(32)));
    std::fs::write(&file, text).unwrap();

    let list = clients(&ring, &["list"]).ok();
    assert_eq!(
        list.stdout,
        "billing-api\tintrospect\nlegacy\tintrospect,revoke,login\nweb\tintrospect,revoke,login\n"
    );
    let v = clients(&ring, &["--json", "list"]).ok().json();
    assert_eq!(
        v["clients"],
        serde_json::json!(["billing-api", "legacy", "web"])
    );
    assert_eq!(v["callers"][0]["client_id"], "billing-api");
    assert_eq!(v["callers"][0]["allow"], serde_json::json!(["introspect"]));
    assert_eq!(
        v["callers"][1]["allow"],
        serde_json::json!(["introspect", "revoke", "login"])
    );

    let bad = clients(
        &ring,
        &["--json", "add", "x", "--allow", "introspect,admin"],
    )
    .code(2);
    assert_eq!(bad.kind(), "usage");
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"admin\"")
    );
}

#[test]
fn issue_11_remove_drops_one_caller_and_names_an_unknown_one() {
    let ring = Ring::new();
    clients(&ring, &["add", "a"]).ok();
    clients(&ring, &["add", "b"]).ok();
    let removed = clients(&ring, &["--json", "remove", "a"]).ok().json();
    assert_eq!(removed["client_id"], "a");
    assert_eq!(removed["removed"], true);
    let text = clients(&ring, &["remove", "b"]).ok();
    assert_eq!(text.stdout, "b\n");
    assert!(text.stderr.contains("removed client b"), "{}", text.stderr);
    assert_eq!(clients(&ring, &["list"]).ok().stdout, "");
    assert_eq!(Ring::mode(&ring.path("clients")), 0o600);

    let unknown = clients(&ring, &["--json", "remove", "nobody-here"]).code(2);
    assert_eq!(unknown.kind(), "usage");
    assert!(
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"nobody-here\"")
    );
}

#[test]
fn issue_11_a_callers_file_open_to_group_or_others_is_refused() {
    let ring = Ring::new();
    clients(&ring, &["add", "a"]).ok();
    let file = ring.path("clients");
    for mode in [0o640, 0o660, 0o604] {
        Ring::chmod(&file, mode);
        for args in [
            &["--json", "list"][..],
            &["--json", "add", "b"],
            &["--json", "remove", "a"],
        ] {
            let out = clients(&ring, args).code(3);
            assert_eq!(out.kind(), "bad_key", "{args:?}");
            let message = out.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(
                message.contains(&format!("loose permissions {mode:04o}"))
                    && message.contains("chmod 600"),
                "{message}"
            );
        }
    }
    Ring::chmod(&file, 0o600);
    assert_eq!(clients(&ring, &["list"]).ok().stdout, "a\tintrospect\n");
}
