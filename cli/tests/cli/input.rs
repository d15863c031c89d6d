//! How arguments are read (issue 17): pasted tokens, `--now` in Unix seconds, and clap's whole
//! message in a `--json` usage error.

use crate::common::{Ring, now};

fn ring() -> Ring {
    let ring = Ring::new();
    ring.generate("EdDSA");
    ring
}

#[test]
fn issue_17_surrounding_whitespace_is_fine() {
    let ring = ring();
    let token = ring.mint(&[]);
    ring.verify(&format!("  {token}\n"), &[]).ok();
    ring.stdin(now(), &["verify", "-"], &format!("\r\n{token}\r\n\t"))
        .ok();
    let file = ring.write("token.txt", format!("\n{token}\n\n"));
    ring.at(now(), &["verify", &format!("@{file}")]).ok();
}

#[test]
fn issue_17_a_pasted_header_or_quotes_say_what_to_remove() {
    let ring = ring();
    let token = ring.mint(&[]);
    for (pasted, remove) in [
        (format!("Bearer {token}"), "`Bearer `"),
        (format!("bearer {token}"), "`Bearer `"),
        (format!("DPoP {token}"), "`DPoP `"),
        (format!("Authorization: Bearer {token}"), "`Authorization:`"),
        (format!("\"{token}\""), "\" quotes"),
        (format!("'{token}'"), "' quotes"),
        (format!("{}\n{}", &token[..20], &token[20..]), "whitespace"),
    ] {
        let file = ring.write("pasted.txt", &pasted);
        for how in [
            vec!["--json", "verify", pasted.as_str()],
            vec!["--json", "verify", "-"],
            vec!["--json", "verify", &format!("@{file}")],
            vec!["--json", "inspect", pasted.as_str()],
            vec!["--json", "revoke", pasted.as_str()],
            vec!["--json", "session", "logout", pasted.as_str()],
            vec!["--json", "session", "refresh", pasted.as_str()],
        ] {
            let out = ring.stdin(now(), &how, &pasted).code(2);
            let v = out.json();
            assert_eq!(v["error"]["kind"], "usage", "{how:?}");
            let message = v["error"]["message"].as_str().unwrap();
            assert!(message.contains(remove), "{how:?}: {message}");
            assert!(
                !out.all().contains(&token[..40]),
                "the token is never printed: {}",
                out.all()
            );
        }
    }
}

#[test]
fn issue_17_now_wants_unix_seconds_and_shows_how_to_get_them() {
    let ring = ring();
    let out = ring
        .run(&["--json", "--now", "2027-01-15", "mint", "--sub", "a"])
        .code(2);
    let message = out.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("Unix seconds"), "{message}");
    assert!(message.contains("date -d 2027-01-15 +%s"), "{message}");
    assert!(!message.contains("invalid digit"), "{message}");
    assert!(
        out.stderr.contains("date -d 2027-01-15 +%s"),
        "{}",
        out.stderr
    );
    let out = ring
        .run(&["--json", "--now", "1800000000000", "mint", "--sub", "a"])
        .code(2);
    let message = out.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("milliseconds"), "{message}");
}

#[test]
fn issue_17_json_usage_errors_keep_the_whole_message() {
    let ring = ring();
    let out = ring.run(&["--json", "mint"]).code(2);
    let v = out.json();
    assert_eq!(v["error"]["kind"], "usage");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("--sub <SUBJECT>"),
        "names the argument: {message}"
    );
    assert!(!message.starts_with("error:"), "{message}");
    assert!(!message.contains("For more information"), "{message}");
    let out = ring
        .run(&["--json", "keys", "generate", "--alg", "none"])
        .code(2);
    let message = out.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("none") && message.contains("--alg"),
        "{message}"
    );
}
