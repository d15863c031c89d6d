//! The real `tollgate` binary: locating it, running commands, and `tollgate serve` as a child
//! process on 127.0.0.1:0 whose bound address is read from its stderr.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `TOLLGATE_BIN`, else `tollgate` beside the test binary's directory (`target/<profile>/`).
pub fn tollgate_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TOLLGATE_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> -> target/<profile>/tollgate
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("tollgate"))
        .expect("target directory");
    assert!(
        candidate.exists(),
        "{} does not exist: run `cargo build -p tollgate-cli` first (or set TOLLGATE_BIN)",
        candidate.display()
    );
    candidate
}

/// A `tollgate` command with `--keys` and `--store` set.
pub fn tollgate(keys: &Path, store: &str) -> Command {
    let mut cmd = Command::new(tollgate_bin());
    cmd.arg("--keys")
        .arg(keys)
        .arg("--store")
        .arg(store)
        .env_remove("TOLLGATE_CLIENTS")
        .env_remove("TOLLGATE_ISSUER")
        .env_remove("TOLLGATE_AUDIENCE")
        .stdin(Stdio::null());
    cmd
}

/// Runs a command, asserting success; returns its trimmed stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out: Output = cmd.output().expect("run tollgate");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A running `tollgate serve`; killed on drop if it is still running.
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `serve --listen 127.0.0.1:0` from `cmd` (a [`tollgate`] command) and waits for
    /// the address it prints.
    pub fn start(mut cmd: Command, extra: &[&str]) -> Served {
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if !cmd.get_envs().any(|(k, _)| k == "TOLLGATE_LOG") {
            cmd.env("TOLLGATE_LOG", "info");
        }
        let mut child = cmd.spawn().expect("spawn tollgate serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                // Logged before the address is handed over, so that a test reading the log
                // once `start` returns sees the line that carried it.
                {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().expect("bound address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "tollgate serve printed no address; stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Served {
            child,
            addr,
            stderr,
        }
    }

    /// What it wrote on stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
