//! Global options, help, version, completions, output hygiene.

use predicates::prelude::*;

use crate::common::{Ring, flip_signature, now, run, tollgate};

#[test]
fn options_before_and_after_the_command_are_the_same() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    ring.rotate(now(), &[]);
    let token = ring.mint(&["--aud", "api", "--iss", "me"]);
    let keys = ring.dir.to_str().unwrap();
    let now = (now() + 10).to_string();
    let pairs: [(Vec<&str>, Vec<&str>); 4] = [
        (
            vec!["--keys", keys, "--json", "--now", &now, "keys", "list"],
            vec!["keys", "list", "--json", "--now", &now, "--keys", keys],
        ),
        (
            vec![
                "--json",
                "--keys",
                keys,
                "--now",
                &now,
                "--issuer",
                "me",
                "--audience",
                "api",
                "verify",
                &token,
            ],
            vec![
                "verify",
                &token,
                "--audience",
                "api",
                "--issuer",
                "me",
                "--now",
                &now,
                "--keys",
                keys,
                "--json",
            ],
        ),
        (
            vec!["--keys", keys, "--json", "--now", &now, "verify", &token],
            vec!["verify", &token, "--keys", keys, "--json", "--now", &now],
        ),
        (
            vec!["--json", "--now", &now, "inspect", &token],
            vec!["inspect", &token, "--now", &now, "--json"],
        ),
    ];
    for (before, after) in pairs {
        let a = run(tollgate().current_dir(ring.tmp.path()).args(&before));
        let b = run(tollgate().current_dir(ring.tmp.path()).args(&after));
        assert_eq!(a.code, b.code, "{before:?} vs {after:?}");
        assert_eq!(a.stdout, b.stdout, "{before:?} vs {after:?}");
        assert_eq!(a.stderr, b.stderr, "{before:?} vs {after:?}");
    }
    // Global options after a nested command too.
    let a = run(tollgate().args(["--keys", keys, "--json", "keys", "jwks"])).ok();
    let b = run(tollgate().args(["keys", "jwks", "--keys", keys, "--json"])).ok();
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn help_ends_with_exit_status() {
    let out = run(tollgate().arg("--help")).ok();
    let text = out.stdout.trim_end();
    let at = text.rfind("EXIT STATUS").expect("EXIT STATUS paragraph");
    let paragraph = &text[at..];
    for code in ["0", "1", "2", "3"] {
        assert!(
            paragraph.lines().any(|l| l.trim_start().starts_with(code)),
            "exit code {code} in {paragraph}"
        );
    }
    assert!(
        !paragraph.contains("\n\n"),
        "EXIT STATUS is the last paragraph"
    );
    for command in ["keys", "mint", "inspect", "verify", "completions"] {
        assert!(text.contains(command), "{command}");
    }
    for option in [
        "--keys",
        "--store",
        "--json",
        "--now",
        "--issuer",
        "--audience",
    ] {
        assert!(text.contains(option), "{option}");
    }
    run(tollgate().arg("-h")).ok();
    run(tollgate().args(["help", "verify"])).ok();
}

#[test]
fn subcommand_help() {
    let out = run(tollgate().args(["verify", "--help"])).ok();
    assert!(out.stdout.contains("--leeway"));
    assert!(out.stdout.contains("30s"), "the default leeway is stated");
    for cmd in [
        vec!["keys", "--help"],
        vec!["keys", "generate", "--help"],
        vec!["mint", "--help"],
        vec!["inspect", "--help"],
    ] {
        run(tollgate().args(&cmd)).ok();
    }
}

#[test]
fn version() {
    let out = run(tollgate().arg("--version")).ok();
    assert!(
        out.stdout.contains(env!("CARGO_PKG_VERSION")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.starts_with("tollgate"));
}

#[test]
fn completions() {
    tollgate()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("_tollgate").and(predicate::str::contains("complete")));
    for shell in ["zsh", "fish"] {
        let out = run(tollgate().args(["completions", shell])).ok();
        assert!(out.stdout.contains("tollgate"), "{shell}");
    }
    run(tollgate().args(["completions", "cmd.exe"])).code(2);
}

#[test]
fn no_ansi_escapes_when_piped() {
    let ring = Ring::new();
    let old = ring.generate("EdDSA");
    let token = ring.mint(&[]);
    ring.rotate(now(), &[]);
    // The human output is styled on a terminal (forced here), so the check below means
    // something.
    let forced = run(ring.cmd().env("CLICOLOR_FORCE", "1").args(["keys", "list"])).ok();
    assert!(forced.stdout.contains('\x1b'), "styled on a terminal");
    for no_color in [false, true] {
        let with = |args: &[&str]| {
            let mut cmd = ring.cmd();
            cmd.arg("--now").arg(now().to_string()).args(args);
            if no_color {
                cmd.env("NO_COLOR", "1");
            }
            run(&mut cmd)
        };
        let outs = [
            with(&["keys", "list"]),
            with(&["inspect", &token]),
            with(&["verify", &token]),
            with(&["verify", &flip_signature(&token)]),
            with(&["keys", "generate"]),
            with(&["keys", "retire", "--", &old]),
            with(&["keys", "list"]),
            with(&["keys", "prune"]),
            with(&["verify", "garbage"]),
            with(&["--help"]),
        ];
        for out in outs {
            assert!(!out.stdout.contains('\x1b'), "ANSI in stdout: {out:?}");
            assert!(!out.stderr.contains('\x1b'), "ANSI in stderr: {out:?}");
        }
    }
}

#[test]
fn json_outputs_are_single_documents() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    let token = ring.mint(&[]);
    for args in [
        vec!["--json", "keys", "list"],
        vec!["--json", "keys", "jwks"],
        vec!["--json", "keys", "prune"],
        vec!["--json", "mint", "--sub", "a"],
        vec!["--json", "inspect", &token],
        vec!["--json", "verify", &token],
        vec!["--json", "verify", "garbage"],
    ] {
        let out = ring.at(now(), &args);
        assert!(out.json().is_object(), "{args:?}");
    }
}
