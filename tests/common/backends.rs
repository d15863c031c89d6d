//! One backend list for every store suite: memory, SQLite (a temp file), PostgreSQL (a database
//! of its own on a server the test binary starts), Redis (its own server), Redis Cluster (its own
//! three masters), and the local replica over SQLite, PostgreSQL and Redis.
//! The revocation suite and the session suite both run over all of them with
//! [`for_each_backend!`](crate::for_each_backend).
//!
//! Time: every test starts at `t0`, the real clock when the backend was made (never a fixed
//! date). Stores whose clock the test controls (memory, SQLite and PostgreSQL: a manual
//! [`StoreClock`]) move with [`Backend::at`]; Redis keeps its server's real clock (`TIME`), so
//! tests check its key TTLs instead of travelling, and use short real windows where they must
//! wait.

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tollgate::session::SessionConfig;
use tollgate::store::{
    MemoryStore, PostgresStore, RedisStore, Replica, ReplicaConfig, SqliteStore, Store, StoreClock,
};
use tollgate::{Algorithm, Clock, Gate, Keyring};

use super::postgres::PgServer;
use super::{RedisCluster, RedisServer, TempKeyring, unique};

/// How long eventual things (propagation, reconnection) may take before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Reads every byte a store holds, as an attacker with a copy of it would.
pub type RawDump = Box<dyn Fn() -> Vec<Vec<u8>> + Send + Sync>;

/// Reads a Redis key's real PTTL in milliseconds.
pub type PttlFn = Box<dyn Fn(&[u8]) -> i64 + Send + Sync>;

/// The Redis side of a backend: the store (for its key names) and a PTTL reader.
pub struct RedisProbe {
    pub store: RedisStore,
    pub pttl: PttlFn,
    /// The URL of one node, for raw commands.
    pub node_url: String,
}

/// One backend under test.
pub struct Backend<S> {
    /// The backend's name, for messages.
    pub name: &'static str,
    /// The store under test, shared so that several gates use it.
    pub store: Arc<S>,
    /// Another, independent handle on the same data (another process would open one).
    pub second: Store,
    /// The store's clock, when the test controls it (memory, SQLite); `None` for Redis.
    pub clock: Option<StoreClock>,
    /// The real clock when the backend was made: every instant of a test is `t0 + offset`.
    pub t0: i64,
    /// The Redis probe, for Redis backends.
    pub redis: Option<RedisProbe>,
    /// Every byte the store holds (none for memory).
    pub raw: Option<RawDump>,
    /// The keyring its gates sign with (EdDSA).
    pub keys: TempKeyring,
    guards: Vec<Box<dyn Any + Send + Sync>>,
}

impl<S> Backend<S> {
    /// Whether the test controls the store's clock.
    pub fn manual(&self) -> bool {
        self.clock.is_some()
    }

    /// Moves the store's clock to `t` when the test controls it.
    pub fn set_store_time(&self, t: i64) {
        if let Some(clock) = &self.clock {
            clock.set(t);
        }
    }

    /// The store's now: its manual clock, or the real one.
    pub fn store_now(&self) -> i64 {
        self.clock
            .as_ref()
            .map_or_else(|| Clock::system().now(), StoreClock::now)
    }

    /// A fresh copy of the keyring.
    pub fn keyring(&self) -> Keyring {
        Keyring::open(self.keys.keyring.dir()).unwrap()
    }

    /// Keeps `guard` alive as long as the backend.
    pub fn keep(&mut self, guard: impl Any + Send + Sync) {
        self.guards.push(Box::new(guard));
    }

    /// A gate over the second handle at `t`.
    pub fn other(&self, t: i64) -> Gate {
        self.set_store_time(t);
        Gate::new(self.second.clone())
            .with_keyring(self.keyring())
            .with_clock(Clock::fixed(t))
    }

    /// For a store on a real clock, waits until its second is past `t`: a login after a user
    /// or global revocation made in that second is covered by it (the documented cost).
    pub async fn next_second(&self, t: i64) {
        if !self.manual() {
            while Clock::system().now() <= t {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

impl<S: tollgate::SessionStore> Backend<S> {
    /// A gate at `t` (the store's clock moves there too when the test controls it) with the
    /// default session configuration.
    pub fn at(&self, t: i64) -> Gate<Arc<S>> {
        self.with(t, SessionConfig::new())
    }

    /// A gate at `t` with `config`.
    pub fn with(&self, t: i64, config: SessionConfig) -> Gate<Arc<S>> {
        self.set_store_time(t);
        Gate::new(Arc::clone(&self.store))
            .with_keyring(self.keyring())
            .with_clock(Clock::fixed(t))
            .with_session_config(config)
    }
}

fn backend<S>(
    name: &'static str,
    store: S,
    second: Store,
    clock: Option<StoreClock>,
    t0: i64,
) -> Backend<S> {
    Backend {
        name,
        store: Arc::new(store),
        second,
        clock,
        t0,
        redis: None,
        raw: None,
        keys: TempKeyring::with_key(Algorithm::EdDSA),
        guards: Vec::new(),
    }
}

/// The in-process store on a manual clock.
pub async fn memory(_test: &str) -> Backend<Store> {
    let t0 = Clock::system().now();
    let clock = StoreClock::manual(t0);
    let store = MemoryStore::with_clock(clock.clone());
    backend(
        "memory",
        Store::Memory(store.clone()),
        Store::Memory(store),
        Some(clock),
        t0,
    )
}

/// A SQLite file on a manual clock, and a second handle on it (on the same clock).
pub async fn sqlite(_test: &str) -> Backend<Store> {
    let t0 = Clock::system().now();
    let clock = StoreClock::manual(t0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.db");
    let open = || SqliteStore::open_with(&path, clock.clone(), None);
    let store = Store::Sqlite(open().await.unwrap());
    let second = Store::Sqlite(open().await.unwrap());
    let mut b = backend("sqlite", store, second, Some(clock.clone()), t0);
    let dump_path = path.clone();
    b.raw = Some(Box::new(move || sqlite_dump(&dump_path)));
    b.keep(dir);
    b
}

/// A database of its own on the test binary's PostgreSQL server, on a manual clock, and a
/// second handle on it (on the same clock).
pub async fn postgres(test: &str) -> Backend<Store> {
    let t0 = Clock::system().now();
    let clock = StoreClock::manual(t0);
    let server = PgServer::shared();
    let url = server.database(test, "");
    let open = || PostgresStore::open_with_clock(&url, clock.clone());
    let store = Store::Postgres(open().await.unwrap());
    let second = Store::Postgres(open().await.unwrap());
    let mut b = backend("postgres", store, second, Some(clock.clone()), t0);
    let db = url
        .rsplit('/')
        .next()
        .expect("a database in the URL")
        .to_string();
    b.raw = Some(Box::new(move || postgres_dump(server, &db)));
    b
}

/// Its own Redis server, with a unique key prefix.
pub async fn redis(test: &str) -> Backend<Store> {
    let server = Arc::new(RedisServer::start(test).expect("redis-server"));
    let url = server.url(&format!("?prefix={}:", unique("t")));
    let store = Store::open(&url).await.unwrap();
    let second = Store::open(&url).await.unwrap();
    let probe_server = Arc::clone(&server);
    let redis = probe(
        &store,
        Box::new(move |key| probe_server.cmd(redis::cmd("PTTL").arg(key))),
        server.url(""),
    );
    let mut b = backend("redis", store, second, None, Clock::system().now());
    b.redis = Some(redis);
    let dump_server = Arc::clone(&server);
    b.raw = Some(Box::new(move || redis_dump(&dump_server.url(""))));
    b.keep(server);
    b
}

/// Its own three-master Redis Cluster, with a unique key prefix.
pub async fn redis_cluster(test: &str) -> Backend<Store> {
    let cluster = Arc::new(RedisCluster::start(test).expect("redis cluster"));
    let url = cluster.url(&format!("?prefix={}:", unique("t")));
    let store = Store::open(&url).await.unwrap();
    assert!(matches!(&store, Store::Redis(r) if r.is_cluster()));
    let second = Store::open(&url).await.unwrap();
    let probe_cluster = Arc::clone(&cluster);
    let redis = probe(
        &store,
        Box::new(move |key| probe_cluster.pttl(key)),
        cluster.nodes()[0].url(""),
    );
    let mut b = backend("redis_cluster", store, second, None, Clock::system().now());
    b.redis = Some(redis);
    let dump_cluster = Arc::clone(&cluster);
    b.raw = Some(Box::new(move || {
        dump_cluster
            .nodes()
            .iter()
            .flat_map(|node| redis_dump(&node.url("")))
            .collect()
    }));
    b.keep(cluster);
    b
}

/// The replica's settings in tests: fast feeds, its clock the store's.
pub fn replica_config(clock: Clock) -> ReplicaConfig {
    ReplicaConfig::default()
        .with_clock(clock)
        .with_poll_interval(Duration::from_millis(10))
        .with_max_staleness(Duration::from_millis(500))
        .with_retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

async fn replica(base: Backend<Store>, name: &'static str) -> Backend<Replica<Store>> {
    // The replica sweeps and judges expiry by the real clock; over a manual store clock the
    // tests move, the store answers (strict) only when the replica is stale, so keep it fresh.
    let Backend {
        store,
        second,
        clock,
        t0,
        redis,
        raw,
        keys,
        guards,
        ..
    } = base;
    let store = Arc::try_unwrap(store).unwrap_or_else(|_| unreachable!("not shared yet"));
    let replica = Replica::start(store, replica_config(Clock::System)).unwrap();
    assert!(replica.wait_fresh(PATIENCE).await, "replica never fresh");
    Backend {
        name,
        store: Arc::new(replica),
        second,
        clock,
        t0,
        redis,
        raw,
        keys,
        guards,
    }
}

/// The replica over SQLite.
pub async fn replica_over_sqlite(test: &str) -> Backend<Replica<Store>> {
    replica(sqlite(test).await, "replica_over_sqlite").await
}

/// The replica over PostgreSQL.
pub async fn replica_over_postgres(test: &str) -> Backend<Replica<Store>> {
    replica(postgres(test).await, "replica_over_postgres").await
}

/// The replica over Redis.
pub async fn replica_over_redis(test: &str) -> Backend<Replica<Store>> {
    replica(redis(test).await, "replica_over_redis").await
}

fn probe(store: &Store, pttl: PttlFn, node_url: String) -> RedisProbe {
    let Store::Redis(redis) = store else {
        panic!("not a Redis store: {}", store.url())
    };
    RedisProbe {
        store: redis.clone(),
        pttl,
        node_url,
    }
}

/// Every value of every row of every table of a SQLite file, as bytes.
pub fn sqlite_dump(path: &PathBuf) -> Vec<Vec<u8>> {
    use rusqlite::types::ValueRef;
    let conn = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let Ok(mut stmt) = conn.prepare(&format!("SELECT * FROM \"{table}\"")) else {
            continue; // an index: its contents are the table's
        };
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                out.push(match row.get_ref(i).unwrap() {
                    ValueRef::Null => Vec::new(),
                    ValueRef::Integer(n) => n.to_string().into_bytes(),
                    ValueRef::Real(f) => f.to_string().into_bytes(),
                    ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
                });
            }
        }
    }
    out
}

/// Every value of every column of every table of a PostgreSQL database, as bytes (read in hex
/// through psql, so that binary columns come back as they are).
pub fn postgres_dump(server: &PgServer, db: &str) -> Vec<Vec<u8>> {
    let columns = server.psql(
        db,
        "SELECT table_name, column_name, data_type FROM information_schema.columns \
         WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    );
    let mut out = Vec::new();
    for line in columns.lines().filter(|l| !l.is_empty()) {
        let [table, column, kind] = line.split('|').collect::<Vec<_>>()[..] else {
            panic!("unexpected psql line {line:?}")
        };
        let value = if kind == "bytea" {
            format!("\"{column}\"")
        } else {
            format!("convert_to(\"{column}\"::text, 'UTF8')")
        };
        let values = server.psql(
            db,
            &format!(
                "SELECT encode({value}, 'hex') FROM \"{table}\" WHERE \"{column}\" IS NOT NULL"
            ),
        );
        out.extend(values.lines().map(|hex| {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex from psql"))
                .collect::<Vec<u8>>()
        }));
    }
    out
}

/// Every key and value on one Redis node.
pub fn redis_dump(url: &str) -> Vec<Vec<u8>> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    let mut out = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![redis::cmd("GET").arg(&key).query(&mut conn).unwrap()],
            "hash" => redis::cmd("HGETALL").arg(&key).query(&mut conn).unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(&mut conn)
                .unwrap(),
            "none" => Vec::new(), // expired between KEYS and TYPE
            other => panic!("unexpected key type {other}"),
        };
        out.push(key);
        out.extend(values);
    }
    out
}

/// Runs each case of a suite module over every backend: `for_each_backend!(suite, [case, …])`
/// makes a module per backend with one `#[tokio::test]` per case, calling `suite::case(&b)`.
/// The suite's functions are generic over the store type.
#[macro_export]
macro_rules! for_each_backend {
    ($suite:ident, [$($case:ident),* $(,)?]) => {
        $crate::for_each_backend!(@backend memory_store, memory, $suite, [$($case),*]);
        $crate::for_each_backend!(@backend sqlite_store, sqlite, $suite, [$($case),*]);
        $crate::for_each_backend!(@backend postgres_store, postgres, $suite, [$($case),*]);
        $crate::for_each_backend!(@backend redis_store, redis, $suite, [$($case),*]);
        $crate::for_each_backend!(@backend redis_cluster_store, redis_cluster, $suite, [$($case),*]);
        $crate::for_each_backend!(@backend replica_over_sqlite_store, replica_over_sqlite, $suite, [$($case),*]);
        $crate::for_each_backend!(@backend replica_over_postgres_store, replica_over_postgres, $suite, [$($case),*]);
        $crate::for_each_backend!(@backend replica_over_redis_store, replica_over_redis, $suite, [$($case),*]);
    };
    (@backend $module:ident, $make:ident, $suite:ident, [$($case:ident),*]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let name = concat!(stringify!($module), "::", stringify!($case));
                    let backend = $crate::common::backends::$make(name).await;
                    super::$suite::$case(&backend).await;
                }
            )*
        }
    };
}
