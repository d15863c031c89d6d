//! Session benchmarks: measured and printed, never asserted (DESIGN.md §8).
//!
//! ```text
//! cargo bench --bench session              # everything (needs redis-server on PATH)
//! cargo bench --bench session -- redis     # only sections whose name contains "redis"
//! ```
//!
//! Sections:
//! - `flow`: refreshes per second against the memory store (the CPU cost of the flow: parse,
//!   SHA-256, HKDF + AES-GCM seal, EdDSA signature of the new access token), and SQLite.
//! - `redis-refresh`: refreshes per second on a private redis-server at 16 concurrent session
//!   chains, against a bare `EVALSHA` of a trivial one-key script on the same server and
//!   connection type; the ratio (median of 5 alternating rounds) is the overhead of the flow.
//! - `redis-round-trips`: `INFO commandstats` before and after 1000 sequential refreshes (and
//!   100 logins): the commands each one sends.

#[path = "../tests/common/redis.rs"]
#[allow(dead_code, unreachable_pub)]
mod redis_server;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tollgate::session::{LoginRequest, SessionConfig};
use tollgate::store::Store;
use tollgate::{Algorithm, Clock, Gate, Keyring};

const CONCURRENCY: usize = 16;
const RUN: Duration = Duration::from_secs(2);
const ROUNDS: usize = 5;

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_default();
    let wants = |name: &str| filter.is_empty() || name.contains(filter.as_str());
    // One client thread; redis-server gets the other core of the reference machine.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keys = tempfile::tempdir().expect("tempdir");
    let mut keyring = Keyring::init(keys.path().join("keys")).expect("keyring");
    keyring
        .generate(Algorithm::EdDSA, None, &Clock::System)
        .expect("key");
    let keys_dir = keys.path().join("keys");
    if wants("flow") {
        runtime.block_on(flow(&keys_dir));
    }
    if !wants("redis-refresh") && !wants("redis-round-trips") {
        return;
    }
    let Some(server) = redis_server::RedisServer::start("session bench") else {
        return;
    };
    if wants("redis-refresh") {
        runtime.block_on(redis_refresh(&server, &keys_dir));
    }
    if wants("redis-round-trips") {
        runtime.block_on(redis_round_trips(&server, &keys_dir));
    }
}

async fn gate(url: &str, keys: &std::path::Path) -> Arc<Gate> {
    Arc::new(
        Gate::new(Store::open(url).await.expect("store"))
            .with_keyring(Keyring::open(keys).expect("keyring"))
            .with_session_config(SessionConfig::new()),
    )
}

/// Runs `CONCURRENCY` refresh chains (each its own session) for `RUN`; returns refreshes/s.
async fn refresh_rate(label: &str, gate: &Arc<Gate>, concurrency: usize) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let request = LoginRequest::new(format!("bench-user-{i}")).with_remember_me(true);
        let mut token = gate.login(&request).await.expect("login").refresh_token;
        let (gate, stop, count) = (gate.clone(), stop.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                token = gate.refresh(&token).await.expect("refresh").refresh_token;
                count.fetch_add(1, Ordering::Relaxed);
                // The memory store never awaits: let the timer run.
                tokio::task::yield_now().await;
            }
        }));
    }
    measure(label, concurrency, stop, count, tasks).await
}

async fn measure(
    label: &str,
    concurrency: usize,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
) -> f64 {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start_count = count.load(Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(RUN).await;
    let done = count.load(Ordering::Relaxed) - start_count;
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("task");
    }
    let rate = done as f64 / elapsed.as_secs_f64();
    println!(
        "{label}: {rate:.0} ops/s, {:.1} us/op per chain ({concurrency} concurrent, {done} ops)",
        1e6 * concurrency as f64 / rate
    );
    rate
}

async fn flow(keys: &std::path::Path) {
    println!("== flow: refresh against in-process and embedded stores");
    // The share of the signature: minting one access token alone.
    let keyring = Keyring::open(keys).expect("keyring");
    let options = tollgate::MintOptions::new("bench-user").with_sid("s");
    let iterations = 20_000u32;
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(tollgate::mint(&keyring, black_box(&options), &Clock::System).expect("mint"));
    }
    println!(
        "mint alone (EdDSA access token): {:.1} us/op",
        start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
    );
    let memory = gate("memory:", keys).await;
    refresh_rate("memory store refresh", &memory, 1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = gate(
        &format!("sqlite:{}", dir.path().join("bench.db").display()),
        keys,
    )
    .await;
    refresh_rate("sqlite store refresh (synchronous=FULL)", &sqlite, 1).await;
    refresh_rate(
        "sqlite store refresh (synchronous=FULL)",
        &sqlite,
        CONCURRENCY,
    )
    .await;
}

async fn redis_refresh(server: &redis_server::RedisServer, keys: &std::path::Path) {
    println!("== redis-refresh: refresh vs a bare EVALSHA on the same redis-server");
    let gate = gate(&server.url("?prefix=bench:"), keys).await;
    let client = redis::Client::open(server.url("")).expect("client");
    let manager = client.get_connection_manager().await.expect("manager");
    let trivial = Arc::new(redis::Script::new("return 1"));
    let evalsha = |label: &'static str| {
        let (manager, trivial) = (manager.clone(), trivial.clone());
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let count = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for i in 0..CONCURRENCY {
                let (mut conn, script) = (manager.clone(), trivial.clone());
                let (stop, count) = (stop.clone(), count.clone());
                tasks.push(tokio::spawn(async move {
                    let key = format!("bench:{{s:{i}}}:f");
                    while !stop.load(Ordering::Relaxed) {
                        let v: i64 = script
                            .key(&key)
                            .invoke_async(&mut conn)
                            .await
                            .expect("EVALSHA");
                        black_box(v);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            measure(label, CONCURRENCY, stop, count, tasks).await
        }
    };
    let mut ratios = Vec::new();
    for round in 1..=ROUNDS {
        println!("round {round}/{ROUNDS}");
        let ours = refresh_rate(
            "  refresh (rotate script + seal + EdDSA mint)",
            &gate,
            CONCURRENCY,
        )
        .await;
        let bare = evalsha("  bare EVALSHA of `return 1`").await;
        ratios.push(ours / bare);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "refresh / bare EVALSHA throughput: median {:.2}x (min {:.2}x, max {:.2}x)",
        ratios[ROUNDS / 2],
        ratios[0],
        ratios[ROUNDS - 1]
    );
    refresh_rate("sequential refresh latency", &gate, 1).await;
}

/// `cmdstat_<name>` → calls, from `INFO commandstats`.
fn command_calls(server: &redis_server::RedisServer) -> BTreeMap<String, u64> {
    let info: String = server.cmd(redis::cmd("INFO").arg("commandstats"));
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(name, _)| !name.starts_with("info") && name.as_str() != "ping")
        .map(|(name, calls)| (name.clone(), calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, d)| *d > 0)
        .collect()
}

async fn redis_round_trips(server: &redis_server::RedisServer, keys: &std::path::Path) {
    println!("== redis-round-trips: commands per operation (INFO commandstats delta)");
    let gate = gate(&server.url("?prefix=rt:"), keys).await;
    // Warm the script cache (the first call of a script is EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA).
    let warm = gate.login(&LoginRequest::new("warm")).await.expect("login");
    gate.refresh(&warm.refresh_token).await.expect("refresh");

    const LOGINS: u64 = 100;
    let before = command_calls(server);
    let mut tokens = Vec::new();
    for i in 0..LOGINS {
        let request = LoginRequest::new(format!("rt-{i}"));
        tokens.push(gate.login(&request).await.expect("login").refresh_token);
    }
    let after = command_calls(server);
    for (name, calls) in delta(&before, &after) {
        println!(
            "login: {name} x {:.2} per login",
            calls as f64 / LOGINS as f64
        );
    }

    const REFRESHES: u64 = 1000;
    let monitor = Monitor::start(server.port());
    let before = command_calls(server);
    for i in 0..REFRESHES {
        let slot = (i % LOGINS) as usize;
        tokens[slot] = gate
            .refresh(&tokens[slot])
            .await
            .expect("refresh")
            .refresh_token;
    }
    let after = command_calls(server);
    let (sent, in_scripts) = monitor.finish();
    for (name, calls) in delta(&before, &after) {
        println!(
            "refresh (commandstats, script-internal calls included): {name} x {:.2}",
            calls as f64 / REFRESHES as f64
        );
    }
    let per = |n: &BTreeMap<String, u64>| {
        n.iter()
            .map(|(name, calls)| format!("{name} x {:.2}", *calls as f64 / REFRESHES as f64))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("refresh (MONITOR), sent by the client: {}", per(&sent));
    println!(
        "refresh (MONITOR), run inside the script: {}",
        per(&in_scripts)
    );
    let round_trips: u64 = sent.values().sum();
    println!(
        "refresh: {:.2} round trips per refresh over {REFRESHES} refreshes",
        round_trips as f64 / REFRESHES as f64
    );
}

/// `redis-cli monitor` in the background: counts commands sent by clients and commands run by
/// scripts (MONITOR marks those `[db lua]`), excluding INFO and PING.
struct Monitor {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Monitor {
    fn start(port: u16) -> Monitor {
        use std::io::BufRead;
        let mut child = std::process::Command::new("redis-cli")
            .args(["-p", &port.to_string(), "monitor"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("redis-cli monitor");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // MONITOR answers OK once it is attached.
        let ok = lines
            .recv_timeout(Duration::from_secs(5))
            .expect("monitor attached");
        assert_eq!(ok, "OK");
        Monitor { child, lines }
    }

    /// Stops and returns (sent by clients, run inside scripts), by command name.
    fn finish(mut self) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (mut sent, mut scripted) = (BTreeMap::new(), BTreeMap::new());
        while let Ok(line) = self.lines.try_recv() {
            // 1700000000.123456 [0 127.0.0.1:5555] "EVALSHA" "..." ...
            let Some((origin, rest)) = line.split_once("] ") else {
                continue;
            };
            let name = rest.split('"').nth(1).unwrap_or("").to_ascii_lowercase();
            if name == "info" || name == "ping" || name.is_empty() {
                continue;
            }
            let map = if origin.ends_with(" lua") {
                &mut scripted
            } else {
                &mut sent
            };
            *map.entry(name).or_insert(0) += 1;
        }
        (sent, scripted)
    }
}
