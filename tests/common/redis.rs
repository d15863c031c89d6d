//! Real `redis-server` processes for tests, after redis-rs's `redis-test`: a free port on
//! 127.0.0.1, no persistence, a private directory and log, killed and reaped on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Set to `1` to skip (loudly) the tests that need `redis-server` when it is not installed.
pub const SKIP_ENV: &str = "TOLLGATE_TEST_SKIP_REDIS";

/// Whether `redis-server` can run here; panics with install instructions unless skipping is
/// explicitly requested, in which case it prints "skipped" and returns false.
pub fn redis_available(test: &str) -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        println!("skipped: {test} needs redis-server ({SKIP_ENV}=1)");
        return false;
    }
    panic!(
        "redis-server is not on PATH; install it: apt-get install redis-server redis-tools \
         (or set {SKIP_ENV}=1 to skip the Redis tests explicitly)"
    );
}

/// A free TCP port on 127.0.0.1 (bound and released; the tiny race is accepted, as redis-test does).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// One `redis-server` on its own port and directory.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a standalone server, or returns `None` when Redis tests are explicitly skipped.
    pub fn start(test: &str) -> Option<RedisServer> {
        if !redis_available(test) {
            return None;
        }
        Some(RedisServer::start_with(free_port(), Vec::new()))
    }

    /// Starts a server on `port` with extra arguments (cluster nodes use this).
    pub fn start_with(port: u16, extra: Vec<String>) -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = RedisServer {
            port,
            dir,
            extra,
            child: None,
        };
        server.spawn();
        server
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0` plus `query` (e.g. `?prefix=t1:`).
    pub fn url(&self, query: &str) -> String {
        format!("redis://127.0.0.1:{}/0{query}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn redis-server: {e}"));
        self.child = Some(child);
        self.wait_ready();
    }

    /// PINGs with bounded retries; panics with the server log if it never answers.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = self.url("");
        loop {
            if ping(&url).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "redis-server on port {} exited ({status}); log:\n{}",
                    self.port,
                    read_log(&self.log_path())
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "redis-server on port {} did not answer PING within 10s; log:\n{}",
                    self.port,
                    read_log(&self.log_path())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server and waits for it (an outage); data is lost (no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs one command on a fresh synchronous connection.
    pub fn cmd<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        let client = redis::Client::open(self.url("")).expect("client");
        let mut conn = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("connect");
        cmd.query(&mut conn).expect("query")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ping(url: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_connection_with_timeout(Duration::from_millis(200))?;
    redis::cmd("PING").query::<String>(&mut conn).map(|_| ())
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"))
}

/// A Redis Cluster of three masters, no replicas.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers and joins them with `redis-cli --cluster create`;
    /// returns `None` when Redis tests are explicitly skipped.
    pub fn start(test: &str) -> Option<RedisCluster> {
        if !redis_available(test) {
            return None;
        }
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let bus = free_port();
            let extra = vec![
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-port".into(),
                bus.to_string(),
                "--cluster-config-file".into(),
                "nodes.conf".into(),
                "--cluster-node-timeout".into(),
                "2000".into(),
            ];
            nodes.push(RedisServer::start_with(port, extra));
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli (apt-get install redis-tools): {e}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        Some(cluster)
    }

    /// Waits (bounded) until every node reports `cluster_state:ok`.
    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &self.nodes {
            loop {
                let info: String = node.cmd(redis::cmd("CLUSTER").arg("INFO"));
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "cluster not ok within 20s:\n{info}\nlog:\n{}",
                    read_log(&node.log_path())
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3` plus `query`.
    pub fn url(&self, query: &str) -> String {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        format!("redis+cluster://{}{query}", addrs.join(","))
    }

    /// The three nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The PTTL of `key` in milliseconds, asked of whichever node holds it.
    pub fn pttl(&self, key: &[u8]) -> i64 {
        for node in &self.nodes {
            let client = redis::Client::open(node.url("")).expect("client");
            let mut conn = client.get_connection().expect("connect");
            match redis::cmd("PTTL").arg(key).query::<i64>(&mut conn) {
                Ok(ttl) => return ttl,
                Err(e) if e.redirect_node().is_some() => continue,
                Err(e) => panic!("PTTL {}: {e}", key.escape_ascii()),
            }
        }
        panic!("no node answered PTTL {}", key.escape_ascii())
    }
}
