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
