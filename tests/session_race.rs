//! Concurrent refreshes of ONE refresh token from TWO processes at once, against SQLite,
//! PostgreSQL and Redis: 16 tasks in this process and 16 in a child process (this test binary
//! re-executed, kept alive across rounds and driven over stdin), rounds with the grace window
//! and rounds without. `tests/common/race.rs` says what each round must give.

mod common;

use common::RedisServer;
use common::postgres::PgServer;
use common::race;

/// Rounds in each mode, per store.
const ROUNDS: usize = 100;

/// The child process's side of every race (does nothing unless re-executed as the child).
#[test]
fn race_child() {
    race::child();
}

#[test]
fn refreshes_race_across_two_processes_on_sqlite() {
    if race::is_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("race.db").display());
    race::race("race_child", &url, ROUNDS);
}

#[test]
fn refreshes_race_across_two_processes_on_postgres() {
    if race::is_child() {
        return;
    }
    let url = PgServer::shared().database("race", "?timeout=5s");
    race::race("race_child", &url, ROUNDS / 2);
}

#[test]
fn refreshes_race_across_two_processes_on_redis() {
    if race::is_child() {
        return;
    }
    let Some(server) = RedisServer::start("refreshes_race_across_two_processes_on_redis") else {
        return;
    };
    race::race("race_child", &server.url("?prefix=race:"), ROUNDS);
}
