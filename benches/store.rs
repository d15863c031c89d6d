//! Revocation store benchmarks: measured and printed, never asserted (DESIGN.md §8).
//!
//! ```text
//! cargo bench --bench store                 # everything (needs redis-server on PATH)
//! cargo bench --bench store -- replica      # only sections whose name contains "replica"
//! ```
//!
//! Sections:
//! - `replica`: the replica's in-memory check, ns/op, with 100,000 revoked tokens loaded;
//!   and the replica's bytes per entry (table estimate and RSS growth).
//! - `redis-check`: the store check against a private redis-server at 16 concurrent requests,
//!   against the classic stateful session lookup (GET, then EXPIRE, then a JSON parse of a
//!   ~200-byte session) on the same server; the ratio.
//! - `propagation`: revocation to a replica in another process (this binary re-executed),
//!   p50/p99 over 1000 revocations (Redis) and 200 (SQLite): from the start of `revoke` until
//!   the other process has seen it and acknowledged over a pipe (an upper bound).
//! - `redis-memory`: `INFO memory` used_memory growth over 100,000 token revocations.
//! - `gate-redis`: the whole `Gate::verify` (signature, claims, then the revocation check in
//!   Redis, no replica) for HS256 and EdDSA at 16 concurrent requests, against the classic
//!   stateful session lookup on the same server; the ratio (target for HS256: >= 1.5x).

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tollgate::Clock;
use tollgate::store::{
    MemoryStore, RedisStore, Replica, ReplicaConfig, Revocation, RevocationStore, Scope, Store,
    TokenRef,
};

const NOW: i64 = 1_800_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child-replica") {
        return child_replica(&args[2], args[3].parse().expect("count"));
    }
    let filter = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let wants = |name: &str| filter.is_empty() || name.contains(filter.as_str());
    if wants("replica") {
        runtime.block_on(replica_check());
    }
    if (wants("redis-check")
        || wants("propagation")
        || wants("redis-memory")
        || wants("gate-redis"))
        && !redis_available()
    {
        println!("redis sections skipped: redis-server is not on PATH");
        return;
    }
    if wants("redis-check") {
        // The client gets one thread and redis-server the other core, so that the two do not
        // fight over the 2 cores of the reference machine; the ratio is what matters.
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        client.block_on(redis_check());
    }
    if wants("gate-redis") {
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        client.block_on(gate_redis());
    }
    if wants("propagation") {
        runtime.block_on(propagation());
    }
    if wants("redis-memory") {
        runtime.block_on(redis_memory());
    }
}

fn uuid(i: u64) -> String {
    uuid::Uuid::from_u128(0x5f0e_0000_0000_4000_8000_0000_0000_0000 | u128::from(i))
        .hyphenated()
        .to_string()
}

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn replica_check() {
    println!("== replica: in-memory check");
    const ENTRIES: u64 = 100_000;
    let store = MemoryStore::new();
    for i in 0..ENTRIES {
        let entry = Revocation::new(Scope::Token, uuid(i), NOW, NOW + 900);
        store.revoke(&entry).await.expect("revoke");
    }
    let rss_before = rss_bytes();
    let config = ReplicaConfig::default().with_clock(Clock::fixed(NOW));
    let replica = Replica::start(store.clone(), config).expect("replica");
    assert!(replica.wait_fresh(Duration::from_secs(30)).await);
    let rss_after = rss_bytes();
    // RSS growth also holds the load's transient Vec<Revocation> if the allocator kept it, so it
    // is an upper bound; the table estimate is the replica's own structures.
    let per_entry = replica.approx_memory() as f64 / replica.len() as f64;
    println!(
        "replica entries: {}  table estimate: {per_entry:.1} bytes/entry  (process RSS growth while loading, an upper bound: {:.1} bytes/entry)",
        replica.len(),
        (rss_after.saturating_sub(rss_before)) as f64 / ENTRIES as f64
    );

    let valid_jti = uuid(ENTRIES + 7);
    let revoked_jti = uuid(ENTRIES / 2);
    let token = |jti| TokenRef {
        namespace: &tollgate::keys::Namespace::Own,
        jti,
        sid: Some("sess-1"),
        sub: "user-1",
        kid: "k1",
        iat: Some(NOW - 10),
        auth_time: None,
    };
    for (label, jti) in [("not revoked", &valid_jti), ("revoked", &revoked_jti)] {
        let t = token(jti);
        let iterations = 2_000_000u32;
        // Warm up.
        for _ in 0..10_000 {
            black_box(replica.check_local(black_box(&t), NOW));
        }
        let start = Instant::now();
        for _ in 0..iterations {
            black_box(replica.check_local(black_box(&t), NOW));
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(iterations);
        println!("replica check_local ({label}): {ns:.1} ns/op");
        let start = Instant::now();
        for _ in 0..iterations {
            black_box(replica.check(black_box(&t), NOW).await.expect("check"));
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(iterations);
        println!("replica check via async trait ({label}): {ns:.1} ns/op");
    }
}

// ---- Redis helpers ------------------------------------------------------------------------

fn redis_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = tempfile::tempdir().expect("tempdir");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.path().join("log"))
            .spawn()
            .expect("spawn redis-server");
        let server = Server {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..500 {
            if server.sync().is_some() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not start");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn sync(&self) -> Option<redis::Connection> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_millis(200))
            .ok()?;
        redis::cmd("PING").query::<String>(&mut conn).ok()?;
        Some(conn)
    }

    fn used_memory(&self) -> i64 {
        let mut conn = self.sync().expect("connect");
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query(&mut conn)
            .expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

// ---- Redis check vs the classic session lookup ---------------------------------------------

#[derive(serde::Deserialize)]
#[allow(dead_code)] // parsed, as a session middleware would, but not read
struct Session {
    sid: String,
    sub: String,
    created: i64,
    last_used: i64,
    remember: bool,
    roles: Vec<String>,
    ip: String,
    ua: String,
}

const CONCURRENCY: usize = 16;
const RUN: Duration = Duration::from_secs(2);
const ROUNDS: usize = 5;

async fn drive<F, Fut>(label: &str, op: F) -> f64
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY as u64 {
        let (op, stop, count) = (op.clone(), stop.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                op(i).await;
                count.fetch_add(1, Ordering::Relaxed);
                i += CONCURRENCY as u64;
            }
        }));
    }
    // Warm-up, then measure.
    tokio::time::sleep(Duration::from_millis(200)).await;
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
    println!("{label}: {rate:.0} ops/s ({CONCURRENCY} concurrent, {done} ops)");
    rate
}

async fn redis_check() {
    println!("== redis-check: store check vs classic session lookup, same redis-server");
    let server = Server::start();
    let store = RedisStore::open(&server.url()).await.expect("open");
    // Some revocations in place (one of each scope but global), none matching the probe.
    for scope in [Scope::Token, Scope::Session, Scope::User, Scope::Key] {
        for i in 0..1000 {
            let entry = Revocation::new(scope, format!("{scope}-{i}"), NOW, NOW + 900);
            store.revoke(&entry).await.expect("revoke");
        }
    }
    let session_json = serde_json::json!({
        "sid": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "sub": "user-1234567",
        "created": 1_799_990_000,
        "last_used": 1_799_999_000,
        "remember": true,
        "roles": ["reader", "writer", "billing"],
        "ip": "203.0.113.7",
        "ua": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
    })
    .to_string();
    println!("session JSON: {} bytes", session_json.len());
    let client = redis::Client::open(server.url()).expect("client");
    let mut manager = client.get_connection_manager().await.expect("manager");
    for i in 0..1000 {
        let _: () = redis::cmd("SET")
            .arg(format!("sess:{i}"))
            .arg(&session_json)
            .arg("EX")
            .arg(1800)
            .query_async(&mut manager)
            .await
            .expect("SET");
    }

    let store = Arc::new(store);
    let jtis: Arc<Vec<String>> = Arc::new((0..1000).map(uuid).collect());
    let check = {
        let (store, jtis) = (store.clone(), jtis.clone());
        move |i: u64| {
            let (store, jtis) = (store.clone(), jtis.clone());
            async move {
                let jti = &jtis[(i % 1000) as usize];
                let token = TokenRef {
                    namespace: &tollgate::keys::Namespace::Own,
                    jti,
                    sid: Some("sess-ok"),
                    sub: "user-ok",
                    kid: "k-ok",
                    iat: Some(NOW - 10),
                    auth_time: None,
                };
                let status = store.check(&token, NOW).await.expect("check");
                black_box(status);
            }
        }
    };
    let classic = classic_lookup(manager.clone());
    // Alternate the two, several rounds, and report the median of the per-round ratios.
    let mut ratios = Vec::new();
    for round in 1..=ROUNDS {
        println!("round {round}/{ROUNDS}");
        let ours = drive("  store check (one MGET of 5 keys)", check.clone()).await;
        let theirs = drive(
            "  classic lookup (GET + EXPIRE + JSON parse)",
            classic.clone(),
        )
        .await;
        ratios.push(ours / theirs);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "ratio store check / classic lookup: median {:.2}x (rounds: {})",
        ratios[ROUNDS / 2],
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The classic stateful session lookup: GET the session, EXPIRE it (sliding), parse its JSON.
/// (Boxing the future costs one small allocation, well under 1% of the two round trips.)
fn classic_lookup(
    manager: redis::aio::ConnectionManager,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Clone + Send + Sync + 'static
{
    move |i: u64| {
        let mut conn = manager.clone();
        Box::pin(async move {
            let key = format!("sess:{}", i % 1000);
            let raw: Vec<u8> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("GET");
            let _: i64 = redis::cmd("EXPIRE")
                .arg(&key)
                .arg(1800)
                .query_async(&mut conn)
                .await
                .expect("EXPIRE");
            let session: Session = serde_json::from_slice(&raw).expect("json");
            black_box(session);
        })
    }
}

// ---- Gate::verify against Redis vs the classic session lookup -------------------------------

/// A session as a classic server-side session store keeps it (~230 bytes of JSON).
fn classic_session_json() -> String {
    serde_json::json!({
        "sid": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "sub": "user-1234567",
        "created": 1_799_990_000,
        "last_used": 1_799_999_000,
        "remember": true,
        "roles": ["reader", "writer", "billing"],
        "ip": "203.0.113.7",
        "ua": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
    })
    .to_string()
}

async fn gate_redis() {
    println!("== gate-redis: Gate::verify against Redis (no replica) vs classic session lookup");
    let server = Server::start();
    let client = redis::Client::open(server.url()).expect("client");
    let manager = client.get_connection_manager().await.expect("manager");
    let session_json = classic_session_json();
    {
        let mut conn = manager.clone();
        for i in 0..1000 {
            let _: () = redis::cmd("SET")
                .arg(format!("sess:{i}"))
                .arg(&session_json)
                .arg("EX")
                .arg(1800)
                .query_async(&mut conn)
                .await
                .expect("SET");
        }
    }
    let classic = classic_lookup(manager.clone());
    let clock = Clock::System;
    for alg in [tollgate::Algorithm::HS256, tollgate::Algorithm::EdDSA] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut keyring = tollgate::Keyring::init(dir.path().join("keys")).expect("keyring");
        keyring.generate(alg, None, &clock).expect("generate");
        let store = Store::open(&server.url()).await.expect("open");
        let gate = Arc::new(
            tollgate::Gate::new(store)
                .with_keyring(keyring)
                .with_clock(clock),
        );
        let tokens: Arc<Vec<String>> = Arc::new(
            (0..100)
                .map(|i| {
                    let options = tollgate::MintOptions::new(format!("user-{i}"))
                        .with_claim("roles", ["reader", "writer"])
                        .expect("claim");
                    gate.mint(&options).expect("mint").token
                })
                .collect(),
        );
        let verify = {
            let (gate, tokens) = (gate.clone(), tokens.clone());
            move |i: u64| {
                let (gate, tokens) = (gate.clone(), tokens.clone());
                async move {
                    let token = &tokens[(i % 100) as usize];
                    let verified = gate
                        .verify::<serde_json::Value>(token)
                        .await
                        .expect("verify");
                    black_box(verified);
                }
            }
        };
        let mut ratios = Vec::new();
        for round in 1..=3 {
            println!("{alg} round {round}/3");
            let ours = drive(
                "  Gate::verify (signature + claims + one MGET)",
                verify.clone(),
            )
            .await;
            let theirs = drive(
                "  classic lookup (GET + EXPIRE + JSON parse)",
                classic.clone(),
            )
            .await;
            ratios.push(ours / theirs);
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "{alg}: Gate::verify / classic lookup: median {:.2}x",
            ratios[1]
        );
    }
}

// ---- Propagation to another process's replica ---------------------------------------------

/// The other process: a replica of `url` that waits for `prop-0`, `prop-1`, … in turn and
/// acknowledges each on stdout as soon as its replica rejects it.
fn child_replica(url: &str, count: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let replica = runtime.block_on(async {
        let store = Store::open(url).await.expect("open");
        let config = ReplicaConfig::default()
            .with_clock(Clock::fixed(NOW))
            .with_poll_interval(Duration::from_millis(50));
        let replica = Replica::start(store, config).expect("replica");
        assert!(replica.wait_fresh(Duration::from_secs(10)).await);
        replica
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("flush");
    for i in 0..count {
        let jti = format!("prop-{i}");
        let token = TokenRef {
            namespace: &tollgate::keys::Namespace::Own,
            jti: &jti,
            sid: None,
            sub: "u",
            kid: "k",
            iat: Some(NOW),
            auth_time: None,
        };
        loop {
            if replica
                .check_local(&token, NOW)
                .is_some_and(|s| s.is_revoked())
            {
                break;
            }
            std::thread::yield_now();
        }
        writeln!(out, "{i}").expect("stdout");
        out.flush().expect("flush");
    }
    drop(runtime);
}

async fn propagate(label: &str, url: &str, count: u64) {
    let store = Store::open(url).await.expect("open");
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .args(["child-replica", url, &count.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().expect("ready").expect("read"), "ready");
    let mut latencies = Vec::new();
    let mut revoke_calls = Vec::new();
    for i in 0..count {
        let entry = Revocation::new(Scope::Token, format!("prop-{i}"), NOW, NOW + 900);
        let start = Instant::now();
        store.revoke(&entry).await.expect("revoke");
        revoke_calls.push(start.elapsed());
        // Reading the pipe blocks this worker briefly: acceptable in a benchmark.
        let ack = tokio::task::block_in_place(|| lines.next().expect("ack").expect("read"));
        latencies.push(start.elapsed());
        assert_eq!(ack, i.to_string());
    }
    let _ = child.wait();
    latencies.sort();
    revoke_calls.sort();
    println!(
        "{label}: revocation seen by another process's replica, p50 {:?} p99 {:?} max {:?} over {count} (revoke call alone: p50 {:?} p99 {:?})",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
        percentile(&revoke_calls, 0.5),
        percentile(&revoke_calls, 0.99),
    );
}

async fn propagation() {
    println!("== propagation: revoke here, replica in another process, loopback");
    let server = Server::start();
    propagate("redis pub/sub", &server.url(), 1000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("prop.db").display());
    propagate("sqlite polling every 50 ms", &url, 200).await;
}

// ---- Redis memory per revoked token --------------------------------------------------------

async fn redis_memory() {
    println!("== redis-memory: INFO memory used_memory over 100,000 token revocations");
    const COUNT: u64 = 100_000;
    let server = Server::start();
    let store = Arc::new(RedisStore::open(&server.url()).await.expect("open"));
    // Warm up the script cache and allocator before the baseline.
    let warm = Revocation::new(Scope::Token, "warm-up", NOW, NOW + 5);
    store.revoke(&warm).await.expect("revoke");
    let before = server.used_memory();
    let mut tasks = Vec::new();
    for worker in 0..16u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while i < COUNT {
                let entry = Revocation::new(Scope::Token, uuid(1_000_000 + i), NOW, NOW + 900);
                store.revoke(&entry).await.expect("revoke");
                i += 16;
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let after = server.used_memory();
    let key = store.entry_key(&Revocation::new(Scope::Token, uuid(1), NOW, NOW).key());
    println!("key example: {} ({} bytes)", key.escape_ascii(), key.len());
    println!(
        "redis used_memory delta: {} bytes over {COUNT} revocations = {:.1} bytes/token",
        after - before,
        (after - before) as f64 / COUNT as f64
    );
}
