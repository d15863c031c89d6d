//! Black-box tests of the `tollgate` binary against the CLI contract (shared/CLI.md): every
//! command, every exit code (0 valid, 1 rejected, 2 usage, 3 environment) and every `--json`
//! shape. Each test has its own temp keyring (`--keys`) and a fixed `--now`; nothing sleeps.
//!
//! One test binary with a module per command, so that linking stays cheap (ripgrep's
//! `tests/tests.rs`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../../../tests/common/http.rs"]
#[allow(dead_code, unreachable_pub)]
mod http;
#[path = "../../../tests/common/redis.rs"]
#[allow(dead_code, unreachable_pub)]
mod redis_server;
#[path = "../../../tests/common/serve.rs"]
#[allow(dead_code, unreachable_pub)]
mod serve_process;

mod clients;
mod durations;
mod global;
mod help;
mod input;
mod inspect;
mod issuers;
mod key_files;
mod key_strength;
mod keyring_failures;
mod keys;
mod mint;
mod pyjwt;
mod remote_issuer;
mod revoke;
mod rfc7515;
mod serve;
mod session;
mod verify;
