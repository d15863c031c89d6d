//! Concurrent refreshes of ONE refresh token from TWO processes at once, for any store URL:
//! 16 tasks in this process and 16 in a child process (the test binary re-executed, kept alive
//! across rounds and driven over stdin), with the grace window and without (see [`race`]).
//!
//! A test binary that races declares the child's test and calls [`race`] with its full name
//! (with its module path, as libtest prints it):
//!
//! ```ignore
//! #[test]
//! fn race_child() {
//!     common::race::child();
//! }
//!
//! #[test]
//! fn refreshes_race_across_two_processes() {
//!     if !common::race::is_child() {
//!         common::race::race("race_child", &url, 50);
//!     }
//! }
//! ```

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate::session::{LoginRequest, SessionConfig};
use tollgate::store::{SessionStore, Store};
use tollgate::{Algorithm, Clock, ErrorKind, Gate, Keyring};

use super::{TempKeyring, now};

/// Set in the child's environment: the child test runs [`child`] only with it, and the racing
/// test does nothing with it.
pub const CHILD_ENV: &str = "TOLLGATE_RACE_CHILD";
const TASKS_PER_PROCESS: usize = 16;
/// Lines of the child protocol carry this mark; anything else (libtest's chatter) is skipped.
const MARK: &str = "@@ ";

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
                    // The real clock: the parent and the child start at different times, and a
                    // minute-rounded `now()` of one would put the other's tokens in the future.
                    .with_clock(Clock::system())
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

/// Whether this process is the child of a race.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The child process (the body of a `#[test]` named as [`race`]'s `child_test` says): `open URL
/// KEYS`, then `round MODE TOKEN` / `go` pairs, then `quit`. Does nothing unless [`is_child`].
pub fn child() {
    if !is_child() {
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

/// The other racer: this test binary, re-executed to run only the child test.
struct Racer {
    process: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Racer {
    fn spawn(child_test: &str, url: &str, keys: &str) -> Racer {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", child_test, "--nocapture", "--test-threads", "1"])
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

/// Races `rounds` rounds with the grace window and `rounds` without over the store at `url`,
/// 16 refreshes of one token in this process and 16 in a child (this binary re-run as
/// `child_test`, whose body is [`child`]), and checks the outcome of each:
///
/// - with grace: exactly one rotation, and all 32 callers receive the same successor pair;
/// - without: exactly one rotation, whose caller receives its pair (the gate's check after
///   rotating looks at user and global revocations only, so a racing reuse that ends the
///   session does not turn the winner's answer into an error); every other caller gets
///   `reused_refresh_token` or, once the session has ended, `unknown_session`; every reuse is
///   counted once; the session is ended, and the winner's new tokens are dead with it.
pub fn race(child_test: &str, url: &str, rounds: usize) {
    let keys = TempKeyring::with_key(Algorithm::EdDSA);
    let keys_dir = keys.keyring.dir().to_str().unwrap().to_owned();
    let runtime = runtime();
    let gates = runtime.block_on(Gates::open(url, &keys_dir));
    let mut racer = Racer::spawn(child_test, url, &keys_dir);
    let started = Instant::now();
    let mut child_wins = 0;
    for round in 0..rounds * 2 {
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
        let context = format!("round {round} ({mode}): {answers:#?}");

        let record = runtime
            .block_on(gate.store().session(&login.session_id))
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
        "{} rounds x {} refreshes on {url} in {:?}; without grace the child process won \
         {child_wins} of {rounds}",
        rounds * 2,
        2 * TASKS_PER_PROCESS,
        started.elapsed()
    );
}
