//! Durations on every flag and variable that takes one (issue 16): a unit is required, a bare
//! number other than 0 is a usage error naming the value, months and years are refused, and
//! `--help` shows the accepted forms.

use crate::common::{Out, Ring, now};

/// Every DURATION flag, with a command line that would otherwise run (or at least get past
/// argument parsing), the flag last.
fn flags() -> Vec<(&'static str, Vec<&'static str>)> {
    let login = || vec!["session", "login", "--sub", "alice"];
    let refresh = || vec!["session", "refresh", "tgr1.x.1.y"];
    let serve = || vec!["serve", "--listen", "127.0.0.1:0"];
    let mut all = vec![
        ("--ttl", vec!["mint", "--sub", "alice"]),
        ("--leeway", vec!["verify", "x.y.z"]),
        ("--older-than", vec!["keys", "prune"]),
        ("--jwks-max-age", serve()),
        ("--drain-timeout", serve()),
    ];
    for lifetime in [
        "--access-ttl",
        "--refresh-window",
        "--remember-window",
        "--absolute-max",
        "--grace",
    ] {
        all.push((lifetime, serve()));
    }
    for lifetime in [
        "--access-ttl",
        "--refresh-window",
        "--remember-window",
        "--absolute-max",
    ] {
        all.push((lifetime, login()));
    }
    all.push(("--access-ttl", refresh()));
    all.push(("--grace", refresh()));
    all
}

/// The usage error of a refused duration: exit 2, kind `usage`, no verdict, the value named.
fn assert_refused(out: Out, value: &str, what: &str) {
    let out = out.code(2);
    let v = out.json();
    assert_eq!(v["error"]["kind"], "usage", "{what}: {v:#}");
    assert!(
        v.get("valid").is_none(),
        "{what}: a usage error is not a verdict"
    );
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{value:?}")),
        "{what}: names the value: {message}"
    );
    assert!(out.stderr.contains(value), "{what}: {}", out.stderr);
}

#[test]
fn issue_16_a_bare_number_is_refused_on_every_duration_flag() {
    let ring = Ring::new();
    for (flag, command) in flags() {
        let mut args = vec!["--json"];
        args.extend(&command);
        args.extend([flag, "900"]);
        let out = ring.at(now(), &args);
        let what = format!("{flag} in {command:?}");
        let message = out.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert_refused(out, "900", &what);
        assert!(message.contains(flag), "{what}: names the flag: {message}");
        assert!(
            message.contains("30s, 15m, 12h, 7d or 1h30m"),
            "{what}: shows examples: {message}"
        );
    }
}

#[test]
fn issue_16_months_years_and_capital_m_are_refused_on_every_duration_flag() {
    let ring = Ring::new();
    for (flag, command) in flags() {
        for value in ["1M", "1y", "2months"] {
            let mut args = vec!["--json"];
            args.extend(&command);
            args.extend([flag, value]);
            assert_refused(ring.at(now(), &args), value, &format!("{flag} {value}"));
        }
    }
}

#[test]
fn issue_16_session_lifetime_variables_need_a_unit_too() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    for (var, command) in [
        ("TOLLGATE_ACCESS_TTL", ["login", "--sub", "alice"]),
        ("TOLLGATE_REFRESH_WINDOW", ["login", "--sub", "alice"]),
        ("TOLLGATE_REMEMBER_WINDOW", ["login", "--sub", "alice"]),
        ("TOLLGATE_ABSOLUTE_MAX", ["login", "--sub", "alice"]),
        ("TOLLGATE_ACCESS_TTL", ["refresh", "tgr1.x.1.y", "--"]),
        ("TOLLGATE_GRACE", ["refresh", "tgr1.x.1.y", "--"]),
    ] {
        let mut cmd = ring.cmd();
        cmd.env(var, "300")
            .args(["--json", "--now", &now().to_string(), "session"])
            .args(command);
        let out = crate::common::run(&mut cmd);
        assert!(
            out.stderr
                .contains(&format!("came from the environment variable {var}")),
            "{var}: {}",
            out.stderr
        );
        assert_eq!(out.json()["error"]["env"], var);
        assert_refused(out, "300", var);
    }
}

#[test]
fn issue_16_a_store_timeout_needs_a_unit() {
    let ring = Ring::new();
    let out = ring.at(
        now(),
        &[
            "--json",
            "--store",
            "redis://127.0.0.1:1/0?timeout=2",
            "revoke",
            "--all",
        ],
    );
    assert_eq!(out.code(2).kind(), "usage");
    // With a unit, the URL is fine (and the store unreachable: exit 3).
    let out = ring.at(
        now(),
        &[
            "--json",
            "--store",
            "redis://127.0.0.1:1/0?timeout=200ms",
            "revoke",
            "--all",
        ],
    );
    assert_eq!(out.code(3).kind(), "store_unavailable");
}

#[test]
fn issue_16_readable_forms_are_accepted() {
    let ring = Ring::new();
    ring.generate("EdDSA");
    for (ttl, secs) in [
        ("1h 30m", 5400),
        ("90min", 5400),
        ("1h30m", 5400),
        ("2hours", 7200),
        ("45 seconds", 45),
    ] {
        let token = ring.mint(&["--ttl", ttl]);
        let claims = crate::common::segment(&token, 1);
        assert_eq!(claims["exp"], now() + secs, "--ttl {ttl:?}");
    }
    let pair = ring
        .at(
            now(),
            &[
                "--json",
                "session",
                "login",
                "--sub",
                "alice",
                "--remember-me",
                "--remember-window",
                "2days",
            ],
        )
        .ok()
        .json();
    assert_eq!(pair["refresh_expires_in"], 2 * 86_400);
    ring.at(now(), &["keys", "prune", "--older-than", "1 week"])
        .ok();
}

#[test]
fn issue_16_help_of_every_duration_flag_shows_the_forms() {
    let ring = Ring::new();
    for (command, flags) in [
        (vec!["mint"], 1),
        (vec!["verify"], 1),
        (vec!["keys", "prune"], 1),
        (vec!["session", "login"], 4),
        (vec!["session", "refresh"], 2),
        (vec!["serve"], 12),
    ] {
        let mut args = command.clone();
        args.push("--help");
        let out = ring.run(&args).ok();
        // Wrapping is the terminal's business: compare with whitespace collapsed.
        let help = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        let forms =
            "DURATION takes a unit: 30s, 15m, 12h, 7d, 1h30m (also \"1h 30m\", 90min, 2days)";
        assert_eq!(
            help.matches(forms).count(),
            flags,
            "{command:?}:\n{}",
            out.stdout
        );
    }
}
