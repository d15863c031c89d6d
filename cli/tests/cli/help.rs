//! Help layout (issue 17): `tollgate -h` names every command; each command's `--help` lists its
//! own options first, the global ones under "Global options", and at least one example; the
//! session commands show only the lifetime flags they use.

use crate::common::{run, tollgate};

/// `tollgate ARGS --help`, stdout.
fn help(path: &[&str]) -> String {
    let mut args = path.to_vec();
    args.push("--help");
    run(tollgate().args(&args)).ok().stdout
}

/// The names in a help text's "Commands:" section, without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        // Wrapped descriptions are indented further than the names.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Every command path, depth first: `["keys"]`, `["keys", "generate"]`, ….
fn all_commands() -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut todo: Vec<Vec<String>> = subcommands(&help(&[]))
        .into_iter()
        .map(|c| vec![c])
        .collect();
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        for sub in subcommands(&help(&args)) {
            let mut deeper = path.clone();
            deeper.push(sub);
            todo.push(deeper);
        }
        found.push(path);
    }
    found
}

#[test]
fn issue_17_top_level_help_names_every_command() {
    let out = run(tollgate().arg("-h")).ok().stdout;
    let commands = subcommands(&out);
    let expected = [
        "keys",
        "mint",
        "inspect",
        "verify",
        "revoke",
        "session",
        "store",
        "serve",
        "clients",
        "completions",
    ];
    assert_eq!(commands, expected, "{out}");
    // The opening lines name them all, as they are spelled.
    let about: String = out
        .split("Usage:")
        .next()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for command in expected {
        assert!(about.contains(command), "{command} missing from: {about}");
    }
    assert!(
        !about.contains("sessions,"),
        "the command is `session`: {about}"
    );
}

#[test]
fn issue_17_every_command_lists_its_options_then_global_options_then_examples() {
    let commands = all_commands();
    assert!(commands.len() >= 24, "{commands:?}");
    for path in commands {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let out = help(&args);
        let what = path.join(" ");
        let own = out
            .find("\nOptions:\n")
            .unwrap_or_else(|| panic!("{what}: no Options:\n{out}"));
        let global = out
            .find("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{what}: no Global options:\n{out}"));
        assert!(own < global, "{what}: its own options come first\n{out}");
        let keys = out.find("--keys <DIR>").unwrap();
        assert!(keys > global, "{what}: --keys is a global option\n{out}");
        let example = out
            .find("\nExample:\n")
            .or_else(|| out.find("\nExamples:\n"))
            .unwrap_or_else(|| panic!("{what}: no example\n{out}"));
        assert!(
            out[example..].contains("tollgate "),
            "{what}: the example is a command\n{out}"
        );
    }
}

#[test]
fn issue_17_session_commands_show_only_the_lifetimes_they_use() {
    let lifetimes = [
        "--access-ttl",
        "--refresh-window",
        "--remember-window",
        "--absolute-max",
        "--grace",
    ];
    for (command, shown) in [
        (vec!["session", "logout"], vec![]),
        (vec!["session", "logout-all"], vec![]),
        (vec!["session", "list"], vec![]),
        (vec!["session"], vec![]),
        (
            vec!["session", "login"],
            vec![
                "--access-ttl",
                "--refresh-window",
                "--remember-window",
                "--absolute-max",
            ],
        ),
        (vec!["session", "refresh"], vec!["--access-ttl", "--grace"]),
        (vec!["serve"], lifetimes.to_vec()),
    ] {
        let out = help(&command);
        for flag in lifetimes {
            assert_eq!(
                out.contains(&format!("{flag} <DURATION>")),
                shown.contains(&flag),
                "{flag} in `{}`:\n{out}",
                command.join(" ")
            );
        }
        if !shown.is_empty() {
            assert!(out.contains("\nSession lifetimes:\n"), "{out}");
        }
    }
}

#[test]
fn issue_17_unused_lifetime_flags_are_usage_errors() {
    for args in [
        vec!["session", "logout", "x.y.z", "--access-ttl", "5m"],
        vec!["session", "list", "--sub", "a", "--grace", "0"],
        vec!["session", "login", "--sub", "a", "--grace", "0"],
        vec!["session", "--access-ttl", "5m", "login", "--sub", "a"],
    ] {
        let out = run(tollgate().arg("--json").args(&args)).code(2);
        assert_eq!(out.kind(), "usage", "{args:?}");
    }
}
