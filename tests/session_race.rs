//! Concurrent refreshes of ONE refresh token from TWO processes at once, against SQLite and
//! Redis: 16 tasks in this process and 16 in a child process (this test binary re-executed,
//! kept alive across rounds and driven over stdin), 100 rounds with the grace window and 100
//! without.
//!
//! With the grace window, exactly one rotation happens and all 32 callers receive the same
//! successor pair. Without it, exactly one caller succeeds; the others are reuse (or, once the
//! session has been revoked by the first reuse, `unknown_session`), and the session is revoked:
//! the winner's new access and refresh tokens are dead too.

mod common;

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{NOW, RedisServer, TempKeyring};
use tollgate::session::{LoginRequest, SessionConfig};
use tollgate::store::SessionStore;
use tollgate::store::Store;
use tollgate::{Algorithm, Clock, ErrorKind, Gate, Keyring};

/// Set in the child's environment; the `child` test does nothing without it.
const CHILD_ENV: &str = "TOLLGATE_RACE_CHILD";
const TASKS_PER_PROCESS: usize = 16;
const ROUNDS: usize = 100;
/// Lines of the child protocol carry this mark; anything else (libtest's chatter) is skipped.
const MARK: &str = "@@ ";

/// One refresh's result, as a line: `ok <refresh token> <access token>` or `err <kind>`.
fn answer(result: tollgate::Result<tollgate::TokenPair>) -> String {
    match result {
        Ok(pair) => format!("ok {} {}", pair.refresh_token, pair.access_token),
        Err(e) => format!("err {}", e.kind()),
    }
}

/// The two gates a process races with: grace on (10 s) and off.
struct Gates {
    grace: Arc<Gate>,
    no_grace: Arc<Gate>,
}

impl Gates {
    async fn open(url: &str, keys: &str) -> Gates {
        let gate = |config: SessionConfig| async move {
            Arc::new(
                Gate::new(Store::open(url).await.unwrap())
                    .with_keyring(Keyring::open(keys).unwrap())
                    .with_clock(Clock::fixed(NOW))
                    .with_session_config(config),
            )
        };
        Gates {
            grace: gate(SessionConfig::new()).await,
            no_grace: gate(SessionConfig::new().with_grace(Duration::ZERO)).await,
        }
    }

    fn pick(&self, mode: &str) -> &Arc<Gate> {
        match mode {
            "grace" => &self.grace,
            "no-grace" => &self.no_grace,
            other => panic!("unknown mode {other}"),
        }
    }

    fn reuse_detections(&self) -> u64 {
        self.grace.reuse_detections() + self.no_grace.reuse_detections()
    }
}

/// Starts `TASKS_PER_PROCESS` refreshes of `token` at once.
fn fire(
    runtime: &tokio::runtime::Runtime,
    gate: &Arc<Gate>,
    token: &str,
) -> Vec<tokio::task::JoinHandle<String>> {
    (0..TASKS_PER_PROCESS)
        .map(|_| {
            let (gate, token) = (Arc::clone(gate), token.to_owned());
            runtime.spawn(async move { answer(gate.refresh(&token).await) })
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The child process: `open URL KEYS`, then `round MODE TOKEN` / `go` pairs, then `quit`.
#[test]
fn child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let runtime = runtime();
    let mut lines = std::io::stdin().lock().lines();
    let mut out = std::io::stdout().lock();
    let mut gates = None;
    while let Some(Ok(line)) = lines.next() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["open", url, keys] => {
                gates = Some(runtime.block_on(Gates::open(url, keys)));
                writeln!(out, "{MARK}ready").unwrap();
            }
            ["round", mode, token] => {
                let gates = gates.as_ref().expect("open first");
                let before = gates.reuse_detections();
                writeln!(out, "{MARK}armed").unwrap();
                out.flush().unwrap();
                let go = lines.next().unwrap().unwrap();
                assert_eq!(go, "go");
                let tasks = fire(&runtime, gates.pick(mode), token);
                for task in tasks {
                    let line = runtime.block_on(task).unwrap();
                    writeln!(out, "{MARK}{line}").unwrap();
                }
                writeln!(out, "{MARK}done {}", gates.reuse_detections() - before).unwrap();
            }
            ["quit"] => break,
            other => panic!("unknown command {other:?}"),
        }
        out.flush().unwrap();
    }
}

/// The other racer: this test binary, re-executed to run only [`child`].
struct Racer {
    process: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Racer {
    fn spawn(url: &str, keys: &str) -> Racer {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = process.stdin.take().unwrap();
        let stdout = BufReader::new(process.stdout.take().unwrap()).lines();
        let mut racer = Racer {
            process,
            stdin,
            stdout,
        };
        racer.send(&format!("open {url} {keys}"));
        assert_eq!(racer.read(), "ready");
        racer
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn read(&mut self) -> String {
        loop {
            let line = self
                .stdout
                .next()
                .expect("the child process ended early")
                .unwrap();
            // libtest prints `test child ... ` without a newline before the first line.
            if let Some((_, rest)) = line.split_once(MARK) {
                return rest.to_owned();
            }
        }
    }
}

impl Drop for Racer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Races `ROUNDS` rounds in each mode over the store at `url`.
fn race(url: &str) {
    let keys = TempKeyring::with_key(Algorithm::EdDSA);
    let keys_dir = keys.keyring.dir().to_str().unwrap().to_owned();
    let runtime = runtime();
    let gates = runtime.block_on(Gates::open(url, &keys_dir));
    let mut racer = Racer::spawn(url, &keys_dir);
    let started = Instant::now();
    // Which process won each race without grace: both should, now and then, if they overlap.
    let mut child_wins = 0;
    for round in 0..ROUNDS * 2 {
        let mode = if round % 2 == 0 { "grace" } else { "no-grace" };
        let gate = gates.pick(mode);
        let login = runtime
            .block_on(gate.login(&LoginRequest::new(format!("racer-{round}"))))
            .unwrap();
        racer.send(&format!("round {mode} {}", login.refresh_token));
        assert_eq!(racer.read(), "armed");
        let before = gates.reuse_detections();
        racer.send("go");
        let ours = fire(&runtime, gate, &login.refresh_token);
        let mut answers: Vec<String> = ours
            .into_iter()
            .map(|task| runtime.block_on(task).unwrap())
            .collect();
        answers.extend((0..TASKS_PER_PROCESS).map(|_| racer.read()));
        let child_reuses: u64 = racer
            .read()
            .strip_prefix("done ")
            .expect("done")
            .parse()
            .unwrap();
        let reuses = gates.reuse_detections() - before + child_reuses;
        let context = format!("round {round} ({mode}) on {url}: {answers:#?}");

        let record = runtime
            .block_on(gate.store().session(&login.session_id, NOW))
            .unwrap()
            .unwrap();
        let ok: Vec<&String> = answers.iter().filter(|a| a.starts_with("ok ")).collect();
        if mode == "grace" {
            assert_eq!(ok.len(), 2 * TASKS_PER_PROCESS, "{context}");
            assert!(
                ok.iter().all(|a| a == &ok[0]),
                "not one successor: {context}"
            );
            assert_eq!(record.generation, 2, "exactly one rotation: {context}");
            assert!(record.ended_at.is_none());
            assert_eq!(reuses, 0, "{context}");
        } else {
            assert_eq!(ok.len(), 1, "exactly one winner: {context}");
            if answers[TASKS_PER_PROCESS..]
                .iter()
                .any(|a| a.starts_with("ok "))
            {
                child_wins += 1;
            }
            let reused = answers
                .iter()
                .filter(|a| *a == &format!("err {}", ErrorKind::ReusedRefreshToken))
                .count();
            let unknown = answers
                .iter()
                .filter(|a| *a == &format!("err {}", ErrorKind::UnknownSession))
                .count();
            assert!(reused >= 1, "{context}");
            assert_eq!(reused + unknown, 2 * TASKS_PER_PROCESS - 1, "{context}");
            assert_eq!(reuses, reused as u64, "every reuse counted once: {context}");
            assert_eq!(record.generation, 2, "exactly one rotation: {context}");
            assert!(
                record.ended_at.is_some(),
                "the session is revoked: {context}"
            );
            // The winner's fresh pair died with the session.
            let mut winner = ok[0].split(' ').skip(1);
            let (refresh, access) = (winner.next().unwrap(), winner.next().unwrap());
            let err = runtime
                .block_on(gate.verify::<serde_json::Value>(access))
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Revoked, "{context}");
            let err = runtime.block_on(gate.refresh(refresh)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnknownSession, "{context}");
        }
    }
    println!(
        "{} rounds x {} refreshes on {url} in {:?}; without grace the child process won {child_wins} of {ROUNDS}",
        ROUNDS * 2,
        2 * TASKS_PER_PROCESS,
        started.elapsed()
    );
}

#[test]
fn refreshes_race_across_two_processes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    race(&format!("sqlite:{}", dir.path().join("race.db").display()));
}

#[test]
fn refreshes_race_across_two_processes_on_redis() {
    let Some(server) = RedisServer::start("refreshes_race_across_two_processes_on_redis") else {
        return;
    };
    race(&server.url("?prefix=race:"));
}
