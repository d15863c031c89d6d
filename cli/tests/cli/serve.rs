//! `tollgate serve` arguments checked before anything starts. (The service itself is tested
//! as a running process in the root `tests/server.rs` and `tests/session_http.rs`.)

use crate::common::{Ring, now};

#[test]
fn issue_17_trusted_origins_that_never_match_are_usage_errors() {
    let ring = Ring::new();
    for origin in [
        "app.example.com",
        "https://app.example.com/",
        "https://app.example.com/login",
        "https://user@app.example.com",
        "https://*.example.com",
        "ftp://app.example.com",
    ] {
        let out = ring
            .at(
                now(),
                &[
                    "--json",
                    "--store",
                    "memory:",
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--trusted-origin",
                    "https://ok.example.com",
                    "--trusted-origin",
                    origin,
                ],
            )
            .code(2);
        let v = out.json();
        assert_eq!(v["error"]["kind"], "usage", "{origin}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{origin:?}")),
            "names {origin}: {message}"
        );
        assert!(!out.stderr.contains("listening"), "{}", out.stderr);
    }
}

#[test]
fn issue_11_serve_help_shows_the_network_limits_tls_and_metrics_flags_with_defaults() {
    let out = crate::common::run(crate::common::tollgate().args(["serve", "--help"])).ok();
    let help = out.stdout;
    for (flag, default) in [
        ("--header-timeout <DURATION>", Some("[default: 10s]")),
        ("--idle-timeout <DURATION>", Some("[default: 60s]")),
        ("--request-timeout <DURATION>", Some("[default: 30s]")),
        ("--body-timeout <DURATION>", Some("[default: 30s]")),
        ("--max-connections <N>", Some("[default: 4096]")),
        ("--metrics-listen <ADDR>", None),
        ("--tls-cert <FILE>", None),
        ("--tls-key <FILE>", None),
    ] {
        let at = help
            .find(flag)
            .unwrap_or_else(|| panic!("{flag} missing from serve --help:\n{help}"));
        if let Some(default) = default {
            let next_flag = help[at + flag.len()..]
                .find("\n  -")
                .map_or(help.len(), |i| at + flag.len() + i);
            assert!(
                help[at..next_flag].contains(default),
                "{flag} {default}:\n{}",
                &help[at..next_flag]
            );
        }
    }
}
