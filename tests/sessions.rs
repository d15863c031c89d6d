//! Sessions, one suite run against every backend: memory, SQLite (a temp file), Redis (its own
//! server) and Redis Cluster (its own three masters). Login, refresh rotation, the grace window,
//! reuse detection (theft), logout, logout-all, the session list, ending other sessions, expiry
//! with the injected clock, and what the raw store holds.

mod common;

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{NOW, RedisCluster, RedisServer, TempKeyring, unique};
use serde_json::Value;
use tollgate::session::{LoginRequest, SessionConfig};
use tollgate::store::{Device, SessionStore};
use tollgate::store::{Replica, ReplicaConfig, Scope, Store};
use tollgate::{Algorithm, Clock, ErrorKind, Gate, Keyring, TokenPair};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// Reads every byte a store holds, as an attacker with a copy of it would.
type RawDump = Box<dyn Fn() -> Vec<Vec<u8>> + Send + Sync>;

/// One backend under test.
struct Backend {
    store: Store,
    /// Another, independent handle on the same data (another process would open one).
    second: Store,
    keys: TempKeyring,
    raw: Option<RawDump>,
    _guards: Vec<Box<dyn Any + Send + Sync>>,
}

impl Backend {
    fn new(
        store: Store,
        second: Store,
        raw: Option<RawDump>,
        guards: Vec<Box<dyn Any + Send + Sync>>,
    ) -> Backend {
        Backend {
            store,
            second,
            keys: TempKeyring::with_key(Algorithm::EdDSA),
            raw,
            _guards: guards,
        }
    }

    fn keyring(&self) -> Keyring {
        Keyring::open(self.keys.keyring.dir()).unwrap()
    }

    /// A gate at `now` with the default session configuration.
    fn at(&self, now: i64) -> Gate {
        self.with(now, SessionConfig::new())
    }

    /// A gate at `now` with `config`.
    fn with(&self, now: i64, config: SessionConfig) -> Gate {
        Gate::new(self.store.clone())
            .with_keyring(self.keyring())
            .with_clock(Clock::fixed(now))
            .with_session_config(config)
    }

    /// A gate over the second handle.
    fn other(&self, now: i64) -> Gate {
        Gate::new(self.second.clone())
            .with_keyring(self.keyring())
            .with_clock(Clock::fixed(now))
    }
}

async fn memory(_test: &str) -> Option<Backend> {
    let store = Store::open("memory:").await.unwrap();
    Some(Backend::new(store.clone(), store, None, Vec::new()))
}

async fn sqlite(_test: &str) -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.db");
    let url = format!("sqlite:{}", path.display());
    let raw: RawDump = Box::new(move || sqlite_dump(&path));
    Some(Backend::new(
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
        Some(raw),
        vec![Box::new(dir)],
    ))
}

async fn redis(test: &str) -> Option<Backend> {
    let server = Arc::new(RedisServer::start(test)?);
    let url = server.url(&format!("?prefix={}:", unique("t")));
    let dump_server = Arc::clone(&server);
    let raw: RawDump = Box::new(move || redis_dump(&dump_server.url("")));
    Some(Backend::new(
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
        Some(raw),
        vec![Box::new(server)],
    ))
}

async fn redis_cluster(test: &str) -> Option<Backend> {
    let cluster = Arc::new(RedisCluster::start(test)?);
    let url = cluster.url(&format!("?prefix={}:", unique("t")));
    let dump_cluster = Arc::clone(&cluster);
    let raw: RawDump = Box::new(move || {
        dump_cluster
            .nodes()
            .iter()
            .flat_map(|node| redis_dump(&node.url("")))
            .collect()
    });
    let store = Store::open(&url).await.unwrap();
    assert!(matches!(&store, Store::Redis(r) if r.is_cluster()));
    Some(Backend::new(
        store,
        Store::open(&url).await.unwrap(),
        Some(raw),
        vec![Box::new(cluster)],
    ))
}

/// Every value of every row of every table, as bytes.
fn sqlite_dump(path: &PathBuf) -> Vec<Vec<u8>> {
    use rusqlite::types::ValueRef;
    let conn = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
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

/// Every key and value on one Redis node.
fn redis_dump(url: &str) -> Vec<Vec<u8>> {
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
            other => panic!("unexpected key type {other}"),
        };
        out.push(key);
        out.extend(values);
    }
    out
}

fn kind<T: std::fmt::Debug>(result: tollgate::Result<T>) -> ErrorKind {
    result.expect_err("expected an error").kind()
}

/// The scope of a `revoked` error.
fn revoked_scope<T: std::fmt::Debug>(result: tollgate::Result<T>) -> String {
    let err = result.expect_err("expected a revocation");
    assert_eq!(err.kind(), ErrorKind::Revoked, "{err:?}");
    err.to_json()["scope"].as_str().unwrap().to_owned()
}

/// The parts of a refresh token: `(sid, generation, secret)`.
fn parts(refresh_token: &str) -> (String, u64, Vec<u8>) {
    let mut it = refresh_token.split('.');
    assert_eq!(it.next(), Some("tgr1"));
    let sid = it.next().unwrap().to_owned();
    let generation = it.next().unwrap().parse().unwrap();
    let secret = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    (sid, generation, secret)
}

async fn verify(
    gate: &Gate,
    token: &str,
) -> tollgate::Result<tollgate::Verified<serde_json::Map<String, Value>>> {
    gate.verify(token).await
}

/// The suite, one function per case.
mod suite {
    use super::*;

    pub(crate) async fn login_refresh_and_logout(b: &Backend) {
        let gate = b.at(NOW);
        let login = gate
            .login(
                &LoginRequest::new("alice")
                    .with_claim("role", "admin")
                    .unwrap()
                    .with_device(Device::new(
                        Some("curl/8".into()),
                        Some("203.0.113.7".into()),
                    )),
            )
            .await
            .unwrap();
        assert_eq!(login.token_type, "Bearer");
        assert_eq!(login.expires_in, 15 * 60);
        assert_eq!(
            login.refresh_expires_in,
            12 * HOUR,
            "no remember-me: 12 hours"
        );
        assert!(!login.remember_me);
        let (sid, generation, secret) = parts(&login.refresh_token);
        assert_eq!(
            (sid.as_str(), generation, secret.len()),
            (login.session_id.as_str(), 1, 32)
        );

        let claims = verify(&gate, &login.access_token).await.unwrap().claims;
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.sid.as_deref(), Some(sid.as_str()));
        assert_eq!(claims.extra["role"], "admin");
        assert_eq!(claims.exp, NOW + 15 * 60);

        let later = b.at(NOW + 600);
        let second = later.refresh(&login.refresh_token).await.unwrap();
        assert_eq!(second.session_id, sid);
        assert_eq!(parts(&second.refresh_token).1, 2);
        assert_ne!(second.access_token, login.access_token);
        assert_eq!(second.refresh_expires_in, 12 * HOUR - 600, "not sliding");
        let claims = verify(&later, &second.access_token).await.unwrap().claims;
        assert_eq!(
            (claims.iat, claims.extra["role"].as_str()),
            (NOW + 600, Some("admin"))
        );
        // A normal rotation does not revoke the previous access token.
        verify(&later, &login.access_token).await.unwrap();

        let info = later.sessions("alice").await.unwrap();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].sid, sid);
        assert_eq!(
            (info[0].generation, info[0].last_used, info[0].created),
            (2, NOW + 600, NOW)
        );
        assert_eq!(info[0].device.user_agent.as_deref(), Some("curl/8"));

        // Logout with the access token: the session ends, its access tokens die.
        later.logout(&second.access_token).await.unwrap();
        assert_eq!(
            revoked_scope(verify(&later, &second.access_token).await),
            "session"
        );
        assert_eq!(
            revoked_scope(verify(&later, &login.access_token).await),
            "session"
        );
        assert_eq!(
            kind(later.refresh(&second.refresh_token).await),
            ErrorKind::UnknownSession
        );
        assert_eq!(
            kind(later.logout(&second.refresh_token).await),
            ErrorKind::UnknownSession
        );
        assert!(later.sessions("alice").await.unwrap().is_empty());
    }

    pub(crate) async fn logout_with_a_refresh_token(b: &Backend) {
        let gate = b.at(NOW);
        let pair = gate.login(&LoginRequest::new(unique("u"))).await.unwrap();
        let other = gate.login(&LoginRequest::new("bystander")).await.unwrap();
        gate.logout(&pair.refresh_token).await.unwrap();
        assert_eq!(
            revoked_scope(verify(&gate, &pair.access_token).await),
            "session"
        );
        assert_eq!(
            kind(gate.refresh(&pair.refresh_token).await),
            ErrorKind::UnknownSession
        );
        verify(&gate, &other.access_token).await.unwrap();
        gate.refresh(&other.refresh_token).await.unwrap();
    }

    pub(crate) async fn tokens_are_not_interchangeable(b: &Backend) {
        let gate = b.at(NOW);
        let pair = gate.login(&LoginRequest::new("alice")).await.unwrap();
        assert_eq!(
            kind(verify(&gate, &pair.refresh_token).await),
            ErrorKind::WrongTokenType
        );
        assert_eq!(
            kind(gate.refresh(&pair.access_token).await),
            ErrorKind::WrongTokenType
        );
        assert_eq!(
            kind(gate.refresh("not a token").await),
            ErrorKind::Malformed
        );
        let (_, _, secret) = parts(&pair.refresh_token);
        let stranger = format!(
            "tgr1.{}.1.{}",
            uuid::Uuid::new_v4(),
            URL_SAFE_NO_PAD.encode(&secret)
        );
        assert_eq!(
            kind(gate.refresh(&stranger).await),
            ErrorKind::UnknownSession
        );
        // Neither did anything: the real pair still works.
        verify(&gate, &pair.access_token).await.unwrap();
        let next = gate.refresh(&pair.refresh_token).await.unwrap();
        // Revoking a refresh token (RFC 7009 §2.1) is not verifying it as an access token: it
        // ends its session, whose access tokens die with it.
        match gate.revoke_token(&next.refresh_token).await.unwrap() {
            tollgate::Revoked::SessionEnded { sid } => assert_eq!(sid, next.session_id),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            kind(verify(&gate, &next.access_token).await),
            ErrorKind::Revoked
        );
        assert_eq!(
            kind(gate.refresh(&next.refresh_token).await),
            ErrorKind::UnknownSession
        );
    }

    pub(crate) async fn theft_revokes_the_whole_session(b: &Backend) {
        let sub = unique("victim");
        let login = b
            .at(NOW)
            .login(&LoginRequest::new(&sub).with_remember_me(true))
            .await
            .unwrap();
        let other_device = b.at(NOW).login(&LoginRequest::new(&sub)).await.unwrap();
        // The user refreshes twice; an attacker kept the first refresh token.
        let second = b.at(NOW + 60).refresh(&login.refresh_token).await.unwrap();
        let third = b
            .at(NOW + 120)
            .refresh(&second.refresh_token)
            .await
            .unwrap();

        let gate = b.at(NOW + 130);
        let err = gate.refresh(&login.refresh_token).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ReusedRefreshToken);
        assert_eq!(err.class().exit_code(), 1);
        let short = &login.session_id[..8];
        assert_eq!(
            err.to_string(),
            format!("refresh token already used; session {short}… is now revoked, log in again")
        );
        assert!(
            !err.to_string().contains(&login.session_id),
            "sid prefix only"
        );
        assert_eq!(gate.reuse_detections(), 1);

        // The user's current access and refresh tokens stop working, here and elsewhere.
        assert_eq!(
            revoked_scope(verify(&gate, &third.access_token).await),
            "session"
        );
        assert_eq!(
            revoked_scope(verify(&b.other(NOW + 130), &third.access_token).await),
            "session"
        );
        assert_eq!(
            kind(gate.refresh(&third.refresh_token).await),
            ErrorKind::UnknownSession
        );
        assert_eq!(
            kind(gate.refresh(&second.refresh_token).await),
            ErrorKind::UnknownSession
        );
        // The user's other session is untouched, and a new login works.
        verify(&gate, &other_device.access_token).await.unwrap();
        let list = gate.sessions(&sub).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].sid, other_device.session_id);
        let fresh = b
            .at(NOW + 140)
            .login(&LoginRequest::new(&sub))
            .await
            .unwrap();
        verify(&b.at(NOW + 140), &fresh.access_token).await.unwrap();
        b.at(NOW + 150).refresh(&fresh.refresh_token).await.unwrap();
    }

    /// Every access token carries its session id, so anyone who saw one could make up
    /// `tgr1.<sid>.<generation>.<junk>`. Such a token was never issued: it is refused before the
    /// store is asked, and it must not pass for a stolen token and end the victim's session.
    pub(crate) async fn a_made_up_refresh_token_cannot_end_the_session(b: &Backend) {
        let gate = b.at(NOW);
        let pair = gate.login(&LoginRequest::new(unique("u"))).await.unwrap();
        for generation in [1, 2, 7] {
            let forged = format!(
                "tgr1.{}.{generation}.{}",
                pair.session_id,
                URL_SAFE_NO_PAD.encode([7u8; 32])
            );
            assert_eq!(kind(gate.refresh(&forged).await), ErrorKind::UnknownSession);
            assert_eq!(kind(gate.logout(&forged).await), ErrorKind::UnknownSession);
        }
        verify(&gate, &pair.access_token).await.unwrap();
        let next = b.at(NOW + 1).refresh(&pair.refresh_token).await.unwrap();
        verify(&b.at(NOW + 1), &next.access_token).await.unwrap();
    }

    pub(crate) async fn grace_replay_returns_the_identical_pair(b: &Backend) {
        let login = b
            .at(NOW)
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        let first = b.at(NOW + 100).refresh(&login.refresh_token).await.unwrap();
        // A second tab, or a retry after a lost response, 4 seconds later.
        let replay = b.at(NOW + 104).refresh(&login.refresh_token).await.unwrap();
        assert_eq!(replay.refresh_token, first.refresh_token);
        assert_eq!(
            replay.access_token, first.access_token,
            "EdDSA: the very same bytes"
        );
        assert_eq!(replay.expires_in, first.expires_in - 4);
        assert_eq!(replay.refresh_expires_in, first.refresh_expires_in - 4);
        let at_edge = b.at(NOW + 110).refresh(&login.refresh_token).await.unwrap();
        assert_eq!(
            at_edge.refresh_token, first.refresh_token,
            "grace is inclusive"
        );
        // Still one rotation.
        let record = b
            .store
            .session(&login.session_id, NOW + 110)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.generation, 2);
        // The successor works once, as usual.
        let next = b.at(NOW + 111).refresh(&first.refresh_token).await.unwrap();
        assert_eq!(parts(&next.refresh_token).1, 3);

        // After the window, the parent is a stolen token.
        let login = b
            .at(NOW)
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        let first = b.at(NOW + 100).refresh(&login.refresh_token).await.unwrap();
        let gate = b.at(NOW + 111);
        assert_eq!(
            kind(gate.refresh(&login.refresh_token).await),
            ErrorKind::ReusedRefreshToken
        );
        assert_eq!(
            revoked_scope(verify(&gate, &first.access_token).await),
            "session"
        );

        // With the grace window off, any replay is theft.
        let no_grace = SessionConfig::new().with_grace(Duration::ZERO);
        let login = b
            .with(NOW, no_grace.clone())
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        b.with(NOW, no_grace.clone())
            .refresh(&login.refresh_token)
            .await
            .unwrap();
        assert_eq!(
            kind(b.with(NOW, no_grace).refresh(&login.refresh_token).await),
            ErrorKind::ReusedRefreshToken
        );
    }

    pub(crate) async fn remembered_sessions_slide_up_to_the_absolute_cap(b: &Backend) {
        let request = LoginRequest::new(unique("u")).with_remember_me(true);
        let mut pair = b.at(NOW).login(&request).await.unwrap();
        assert!(pair.remember_me);
        assert_eq!(pair.refresh_expires_in, 30 * DAY);
        // Each refresh slides the window to 30 days from now...
        for day in [29, 58] {
            pair = b
                .at(NOW + day * DAY)
                .refresh(&pair.refresh_token)
                .await
                .unwrap();
            assert_eq!(pair.refresh_expires_in, 30 * DAY, "day {day}");
        }
        // ...but never beyond 90 days after login.
        pair = b
            .at(NOW + 87 * DAY)
            .refresh(&pair.refresh_token)
            .await
            .unwrap();
        assert_eq!(pair.refresh_expires_in, 3 * DAY);
        let info = b.at(NOW + 87 * DAY).sessions(request.sub()).await.unwrap();
        assert_eq!(info[0].absolute_expires_at, NOW + 90 * DAY);
        assert_eq!(info[0].expires_at, NOW + 90 * DAY);
        assert_eq!(
            kind(b.at(NOW + 90 * DAY).refresh(&pair.refresh_token).await),
            ErrorKind::UnknownSession
        );

        // An unused remembered session lapses after its window.
        let pair = b.at(NOW).login(&request).await.unwrap();
        assert_eq!(
            kind(b.at(NOW + 30 * DAY).refresh(&pair.refresh_token).await),
            ErrorKind::UnknownSession
        );
    }

    pub(crate) async fn session_only_refresh_tokens_end_after_12_hours(b: &Backend) {
        let sub = unique("u");
        let mut pair = b.at(NOW).login(&LoginRequest::new(&sub)).await.unwrap();
        for (at, left) in [(HOUR, 11 * HOUR), (11 * HOUR, HOUR)] {
            pair = b.at(NOW + at).refresh(&pair.refresh_token).await.unwrap();
            assert_eq!(
                pair.refresh_expires_in, left,
                "no sliding beyond 12h from login"
            );
        }
        assert_eq!(
            kind(b.at(NOW + 12 * HOUR).refresh(&pair.refresh_token).await),
            ErrorKind::UnknownSession
        );
        assert!(
            b.at(NOW + 12 * HOUR)
                .sessions(&sub)
                .await
                .unwrap()
                .is_empty()
        );
        // Expired records are purged (Redis: by their TTL instead).
        b.store.purge_sessions(NOW + 12 * HOUR).await.unwrap();
        if !matches!(b.store, Store::Redis(_)) {
            assert!(
                b.store
                    .session(&pair.session_id, NOW)
                    .await
                    .unwrap()
                    .is_none()
            );
        }

        // Lifetimes are configurable.
        let config = SessionConfig::new()
            .with_access_ttl(Duration::from_secs(60))
            .with_refresh_window(Duration::from_secs(HOUR as u64));
        let pair = b
            .with(NOW, config)
            .login(&LoginRequest::new(&sub))
            .await
            .unwrap();
        assert_eq!((pair.expires_in, pair.refresh_expires_in), (60, HOUR));
        let too_long = SessionConfig::new().with_access_ttl(Duration::from_secs(2 * DAY as u64));
        assert_eq!(
            kind(b.with(NOW, too_long).login(&LoginRequest::new(&sub)).await),
            ErrorKind::Usage
        );
        assert_eq!(
            kind(b.at(NOW).login(&LoginRequest::new("")).await),
            ErrorKind::Usage
        );
    }

    pub(crate) async fn logout_all_and_the_session_list(b: &Backend) {
        let (alice, bob) = (unique("alice"), unique("bob"));
        let mut pairs = Vec::new();
        for (i, remember) in [false, true, false].into_iter().enumerate() {
            let request = LoginRequest::new(&alice)
                .with_remember_me(remember)
                .with_device(Device::new(Some(format!("browser {i}")), None));
            pairs.push(b.at(NOW + i as i64).login(&request).await.unwrap());
        }
        let bobs = b.at(NOW).login(&LoginRequest::new(&bob)).await.unwrap();
        // The oldest session is used last, so it lists first.
        pairs[0] = b
            .at(NOW + 50)
            .refresh(&pairs[0].refresh_token)
            .await
            .unwrap();
        let list = b.at(NOW + 60).sessions(&alice).await.unwrap();
        let sids: Vec<&str> = list.iter().map(|s| s.sid.as_str()).collect();
        assert_eq!(
            sids,
            [
                &pairs[0].session_id,
                &pairs[2].session_id,
                &pairs[1].session_id
            ]
        );
        assert_eq!(list[2].device.user_agent.as_deref(), Some("browser 1"));
        assert!(list[2].remember_me && !list[0].remember_me);
        assert_eq!(b.at(NOW + 60).sessions(&bob).await.unwrap().len(), 1);

        let gate = b.at(NOW + 100);
        assert_eq!(gate.logout_all(&alice).await.unwrap(), 3);
        assert!(gate.sessions(&alice).await.unwrap().is_empty());
        for pair in &pairs {
            let scope = revoked_scope(verify(&gate, &pair.access_token).await);
            assert!(scope == "session" || scope == "user", "{scope}");
            assert_eq!(
                kind(gate.refresh(&pair.refresh_token).await),
                ErrorKind::UnknownSession
            );
        }
        verify(&gate, &bobs.access_token).await.unwrap();
        assert_eq!(gate.logout_all(&alice).await.unwrap(), 0);
        // A later login is not caught by the user revocation.
        let later = b.at(NOW + 101);
        let pair = later.login(&LoginRequest::new(&alice)).await.unwrap();
        verify(&later, &pair.access_token).await.unwrap();
        assert_eq!(later.sessions(&alice).await.unwrap().len(), 1);
    }

    pub(crate) async fn ending_other_sessions_keeps_one(b: &Backend) {
        let sub = unique("u");
        let gate = b.at(NOW);
        let mut pairs = Vec::new();
        for _ in 0..3 {
            pairs.push(gate.login(&LoginRequest::new(&sub)).await.unwrap());
        }
        let keep = &pairs[0];
        assert_eq!(
            gate.end_other_sessions(&sub, &keep.session_id)
                .await
                .unwrap(),
            2
        );
        let list = gate.sessions(&sub).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].sid, keep.session_id);
        verify(&gate, &keep.access_token).await.unwrap();
        for gone in &pairs[1..] {
            assert_eq!(
                revoked_scope(verify(&gate, &gone.access_token).await),
                "session"
            );
            assert_eq!(
                kind(gate.refresh(&gone.refresh_token).await),
                ErrorKind::UnknownSession
            );
        }
        // One session by id: only its owner can end it.
        assert_eq!(
            kind(gate.end_session("mallory", &keep.session_id).await),
            ErrorKind::UnknownSession
        );
        assert_eq!(
            kind(gate.end_session(&sub, "not-a-sid").await),
            ErrorKind::UnknownSession
        );
        verify(&gate, &keep.access_token).await.unwrap();
        gate.end_session(&sub, &keep.session_id).await.unwrap();
        assert_eq!(
            revoked_scope(verify(&gate, &keep.access_token).await),
            "session"
        );
        assert_eq!(
            kind(gate.end_session(&sub, &keep.session_id).await),
            ErrorKind::UnknownSession
        );
    }

    pub(crate) async fn a_revoked_session_cannot_refresh(b: &Backend) {
        let gate = b.at(NOW);
        let pair = gate.login(&LoginRequest::new(unique("u"))).await.unwrap();
        gate.revoke(Scope::Session, &pair.session_id).await.unwrap();
        assert_eq!(
            kind(gate.refresh(&pair.refresh_token).await),
            ErrorKind::UnknownSession
        );
    }

    pub(crate) async fn the_raw_store_holds_no_secret(b: &Backend) {
        let Some(dump) = &b.raw else {
            return; // the memory store has no outside view
        };
        let login = b
            .at(NOW)
            .login(&LoginRequest::new(unique("u")).with_remember_me(true))
            .await
            .unwrap();
        let second = b.at(NOW + 60).refresh(&login.refresh_token).await.unwrap();
        let third = b
            .at(NOW + 120)
            .refresh(&second.refresh_token)
            .await
            .unwrap();
        let pairs: [&TokenPair; 3] = [&login, &second, &third];
        let raw = dump();
        let haystack: Vec<u8> = raw.concat();
        let contains = |needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
        // Sanity: we are looking at the session (its sid and the digest of its secret).
        assert!(contains(login.session_id.as_bytes()));
        let (_, _, current) = parts(&third.refresh_token);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &current);
        assert!(
            contains(digest.as_ref()),
            "the digest of the current secret is stored"
        );
        for pair in pairs {
            let (_, _, secret) = parts(&pair.refresh_token);
            let text = pair.refresh_token.rsplit('.').next().unwrap();
            let signature = pair.access_token.rsplit('.').next().unwrap();
            for (what, needle) in [
                ("refresh token", pair.refresh_token.as_bytes()),
                ("secret (base64url)", text.as_bytes()),
                ("secret (raw, first 16 bytes)", &secret[..16]),
                ("secret (raw, last 16 bytes)", &secret[16..]),
                ("access token", pair.access_token.as_bytes()),
                ("access token signature", signature.as_bytes()),
            ] {
                assert!(!contains(needle), "the store holds a {what}");
            }
        }
    }
}

macro_rules! sessions_suite {
    ($module:ident, $make:path) => {
        sessions_suite!(@cases $module, $make, [
            login_refresh_and_logout,
            logout_with_a_refresh_token,
            tokens_are_not_interchangeable,
            theft_revokes_the_whole_session,
            a_made_up_refresh_token_cannot_end_the_session,
            grace_replay_returns_the_identical_pair,
            remembered_sessions_slide_up_to_the_absolute_cap,
            session_only_refresh_tokens_end_after_12_hours,
            logout_all_and_the_session_list,
            ending_other_sessions_keeps_one,
            a_revoked_session_cannot_refresh,
            the_raw_store_holds_no_secret,
        ]);
    };
    (@cases $module:ident, $make:path, [$($case:ident),* $(,)?]) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let name = concat!(stringify!($module), "::", stringify!($case));
                    let Some(backend) = $make(name).await else { return };
                    suite::$case(&backend).await;
                }
            )*
        }
    };
}

sessions_suite!(memory_store, memory);
sessions_suite!(sqlite_store, sqlite);
sessions_suite!(redis_store, redis);
sessions_suite!(redis_cluster_store, redis_cluster);

/// A verifier behind a local replica sees a reuse detection at once, with no round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_applies_a_reuse_revocation_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    let keys = TempKeyring::with_key(Algorithm::EdDSA);
    let config = ReplicaConfig::default()
        .with_clock(Clock::fixed(NOW))
        // A slow feed, so that only the local apply can explain what the test sees.
        .with_poll_interval(Duration::from_secs(30))
        .with_max_staleness(Duration::from_secs(120));
    let replica = Replica::start(Store::open(&url).await.unwrap(), config).unwrap();
    assert!(replica.wait_fresh(Duration::from_secs(20)).await);
    let gate = Gate::new(replica)
        .with_keyring(Keyring::open(keys.keyring.dir()).unwrap())
        .with_clock(Clock::fixed(NOW))
        .with_session_config(SessionConfig::new().with_grace(Duration::ZERO));
    let pair = gate.login(&LoginRequest::new("alice")).await.unwrap();
    let next = gate.refresh(&pair.refresh_token).await.unwrap();
    assert_eq!(
        kind(gate.refresh(&pair.refresh_token).await),
        ErrorKind::ReusedRefreshToken
    );
    let err = gate.verify::<Value>(&next.access_token).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Revoked);
    assert_eq!(
        gate.store().freshness().strict_checks,
        0,
        "answered from memory"
    );

    let other = gate.login(&LoginRequest::new("alice")).await.unwrap();
    gate.logout(&other.refresh_token).await.unwrap();
    assert_eq!(
        kind(gate.verify::<Value>(&other.access_token).await),
        ErrorKind::Revoked
    );
}
