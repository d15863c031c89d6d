//! Sessions in Redis (one node or a cluster).
//!
//! # Keys
//!
//! | what | key | type |
//! | --- | --- | --- |
//! | a session (family) | `<prefix>{s:<sid>}:f` | hash, TTL = time left before its sliding expiry |
//! | its revocation | `<prefix>{s:<sid>}` | string (the revocation layout) |
//! | a user's sessions | `<prefix>{u:<sub>}:s` | sorted set of sids scored by absolute expiry |
//!
//! The family and its session revocation share the hash tag `{s:<sid>}`, so one cluster slot:
//! a rotation is ONE Lua script (one round trip, `EVALSHA`) that reads the family, decides with
//! the rule of [`Rotation::apply`] (digests compared with an XOR-accumulate loop, not `==`),
//! writes the family, and on reuse writes the session revocation and publishes it to replicas.
//! Ending a session is one script on the same slot too.
//!
//! # The per-user index and its consistency
//!
//! The user index lives in another slot (`{u:<sub>}`), so it is updated in a separate step,
//! ordered so that the index is always a superset of the user's live families:
//!
//! - login adds the sid to the index (scored by the absolute expiry, the latest the family can
//!   live) *before* it creates the family; a crash in between leaves a dangling sid;
//! - a rotation never touches the index (the absolute expiry does not move);
//! - ending a session removes its sid *after* the family is marked ended;
//! - listing drops sids whose score has passed and sids whose family is gone.
//!
//! So listing, logout-all and ending other sessions see every family whose login completed
//! before they started; dangling or ended sids are filtered out when read. A login racing a
//! logout-all may survive it (it was, in effect, after it); its access tokens issued in the
//! same second are still caught by the user revocation of logout-all.

use std::collections::HashMap;
use std::sync::LazyLock;

use redis::{Script, ScriptInvocation, Value};
use serde_json::{Map, Value as Json};

use super::{Conn, HINT, RedisStore, bounded, encode_change};
use crate::error::{Error, Result};
use crate::session::{Device, RotateOutcome, Rotation, SessionRecord, SessionStore};
use crate::store::{Revocation, Scope, unavailable};

/// Lua helpers shared by the scripts: a constant-time digest comparison and the revocation
/// merge of the revoke script (later `revoked_at`, later expiry).
const HELPERS: &str = r"
local function eq(a, b)
  if type(a) ~= 'string' or type(b) ~= 'string' or #a ~= #b then return false end
  local d = 0
  for i = 1, #a do d = bit.bor(d, bit.bxor(string.byte(a, i), string.byte(b, i))) end
  return d == 0
end
local function revoke(key, at, ttl)
  local rev = tonumber(at)
  local cur = redis.call('GET', key)
  if cur then
    local c = tonumber(cur)
    if c and c > rev then rev = c end
    local value = string.format('%d', rev)
    if redis.call('PTTL', key) > ttl * 1000 then
      redis.call('SET', key, value, 'KEEPTTL')
    else
      redis.call('SET', key, value, 'EX', ttl)
    end
  else
    redis.call('SET', key, string.format('%d', rev), 'EX', ttl)
  end
end
";

/// The rotation: [`Rotation::apply`] in Lua.
/// KEYS = family, session revocation key;
/// ARGV = now, generation, hash, next hash, sealed, grace, revocation ttl, channel, message.
const ROTATE: &str = r"
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'gen', 'h', 'ph', 'rot', 'exp', 'abs', 'win', 'end')
if not f[1] or f[8] or tonumber(f[5]) <= now or redis.call('EXISTS', KEYS[2]) == 1 then
  return {'unknown', {}}
end
local gen = tonumber(f[1])
local presented = tonumber(ARGV[2])
if presented == gen and eq(ARGV[3], f[2]) then
  local exp = math.min(now + tonumber(f[7]), tonumber(f[6]))
  redis.call('HSET', KEYS[1], 'gen', string.format('%d', gen + 1), 'ph', f[2], 'h', ARGV[4],
    'sl', ARGV[5], 'rot', ARGV[1], 'lu', ARGV[1], 'exp', string.format('%d', exp))
  redis.call('EXPIRE', KEYS[1], math.max(exp - now, 1))
  return {'rotated', redis.call('HGETALL', KEYS[1])}
end
local grace = tonumber(ARGV[6])
if presented + 1 == gen and eq(ARGV[3], f[3]) and grace > 0 and now - tonumber(f[4]) <= grace then
  return {'grace', redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 'end', ARGV[1])
revoke(KEYS[2], ARGV[1], tonumber(ARGV[7]))
redis.call('PUBLISH', ARGV[8], ARGV[9])
return {'reused', redis.call('HGETALL', KEYS[1])}
";

/// Ends one session. KEYS = family, session revocation key;
/// ARGV = now, sub ('' for any), revocation ttl, channel, message.
const END: &str = r"
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'sub', 'exp', 'end')
if not f[1] or (ARGV[2] ~= '' and f[1] ~= ARGV[2]) then return {'none', {}} end
local live = (not f[3]) and tonumber(f[2]) > now
if live then redis.call('HSET', KEYS[1], 'end', ARGV[1]) end
revoke(KEYS[2], ARGV[1], tonumber(ARGV[3]))
redis.call('PUBLISH', ARGV[4], ARGV[5])
if live then return {'ended', redis.call('HGETALL', KEYS[1])} end
return {'none', {}}
";

/// Creates a family. KEYS = family; ARGV = ttl, then field, value pairs.
const CREATE: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
";

/// Adds a sid to a user's index. KEYS = index; ARGV = now, absolute expiry, sid, ttl.
const INDEX: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return 1
";

static ROTATE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{HELPERS}{ROTATE}")));
static END_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{HELPERS}{END}")));
static CREATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CREATE));
static INDEX_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(INDEX));

type Fields = HashMap<String, Vec<u8>>;

impl RedisStore {
    /// The key of a session record: `<prefix>{s:<sid>}:f`.
    pub fn session_key(&self, sid: &str) -> Vec<u8> {
        let mut key = self.key(Scope::Session, sid);
        key.extend_from_slice(b":f");
        key
    }

    /// The key of a user's session index: `<prefix>{u:<sub>}:s`.
    pub fn user_sessions_key(&self, sub: &str) -> Vec<u8> {
        let mut key = self.key(Scope::User, sub);
        key.extend_from_slice(b":s");
        key
    }

    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: ScriptInvocation<'_>,
    ) -> Result<T> {
        let mut conn = self.inner.conn.clone();
        let value: Value = bounded(&self.inner.url, self.inner.parsed.timeout, async {
            match &mut conn {
                Conn::Node(c) => invocation.invoke_async(c).await,
                Conn::Cluster(c) => invocation.invoke_async(c).await,
            }
        })
        .await?;
        redis::from_redis_value(value).map_err(|e| self.error(e.into()))
    }

    fn corrupt(&self, sid: &str) -> Error {
        unavailable(
            &self.inner.url,
            format!("session record {} is malformed", crate::error::quoted(sid)),
            HINT,
        )
    }

    fn parse(&self, sid: &str, fields: &Fields) -> Result<SessionRecord> {
        parse_record(sid, fields).ok_or_else(|| self.corrupt(sid))
    }

    /// Removes sids from a user's index (best effort: a leftover is filtered out when read).
    async fn unindex(&self, sub: &str, sids: &[&str]) {
        if sids.is_empty() {
            return;
        }
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.user_sessions_key(sub)).arg(sids);
        if let Err(e) = self.query::<Value>(&cmd).await {
            tracing::debug!(error = %e, "could not prune the user's session index");
        }
    }

    /// The sids in a user's index whose absolute expiry is after `now`.
    async fn indexed(&self, sub: &str, now: i64) -> Result<Vec<String>> {
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(self.user_sessions_key(sub))
            .arg(format!("({now}"))
            .arg("+inf");
        self.query(&cmd).await
    }

    async fn end_one(
        &self,
        sid: &str,
        sub: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Result<Option<SessionRecord>> {
        let entry = Revocation::new(Scope::Session, sid, now, revocation_expires_at);
        let ttl = revocation_expires_at.saturating_sub(now).max(1);
        let mut invocation = END_SCRIPT.prepare_invoke();
        invocation
            .key(self.session_key(sid))
            .key(self.key(Scope::Session, sid))
            .arg(now)
            .arg(sub.unwrap_or(""))
            .arg(ttl)
            .arg(&self.inner.channel)
            .arg(encode_change(&entry));
        let (tag, fields): (String, Fields) = self.invoke(invocation).await?;
        if tag != "ended" {
            return Ok(None);
        }
        Ok(Some(self.parse(sid, &fields)?))
    }
}

impl SessionStore for RedisStore {
    async fn create_session(&self, record: &SessionRecord, now: i64) -> Result<()> {
        // The index first: it must always cover every live family.
        let index_ttl = record.absolute_expires_at.saturating_sub(now).max(1);
        let mut index = INDEX_SCRIPT.prepare_invoke();
        index
            .key(self.user_sessions_key(&record.sub))
            .arg(now)
            .arg(record.absolute_expires_at)
            .arg(&record.sid)
            .arg(index_ttl);
        let _: Value = self.invoke(index).await?;
        let mut create = CREATE_SCRIPT.prepare_invoke();
        create
            .key(self.session_key(&record.sid))
            .arg(record.expires_at.saturating_sub(now).max(1));
        for (name, value) in fields(record) {
            create.arg(name).arg(value);
        }
        let _: Value = self.invoke(create).await?;
        Ok(())
    }

    async fn rotate_session(&self, rotation: &Rotation, now: i64) -> Result<RotateOutcome> {
        let sid = rotation.sid.as_str();
        let entry = Revocation::new(Scope::Session, sid, now, rotation.revocation_expires_at);
        let ttl = rotation.revocation_expires_at.saturating_sub(now).max(1);
        let mut invocation = ROTATE_SCRIPT.prepare_invoke();
        invocation
            .key(self.session_key(sid))
            .key(self.key(Scope::Session, sid))
            .arg(now)
            .arg(rotation.generation)
            .arg(rotation.hash.as_slice())
            .arg(rotation.next_hash.as_slice())
            .arg(rotation.sealed.as_slice())
            .arg(rotation.grace)
            .arg(ttl)
            .arg(&self.inner.channel)
            .arg(encode_change(&entry));
        let (tag, fields): (String, Fields) = self.invoke(invocation).await?;
        Ok(match tag.as_str() {
            "rotated" => RotateOutcome::Rotated(self.parse(sid, &fields)?),
            "grace" => RotateOutcome::Grace(self.parse(sid, &fields)?),
            "reused" => RotateOutcome::Reused(self.parse(sid, &fields)?),
            _ => RotateOutcome::Unknown,
        })
    }

    async fn session(&self, sid: &str, now: i64) -> Result<Option<SessionRecord>> {
        let fields: Fields = self
            .query(redis::cmd("HGETALL").arg(self.session_key(sid)))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.parse(sid, &fields)?).filter(|r| r.expires_at > now))
    }

    async fn user_sessions(&self, sub: &str, now: i64) -> Result<Vec<SessionRecord>> {
        let sids = self.indexed(sub, now).await?;
        let reads = sids.iter().map(|sid| self.session(sid, now));
        let records = futures_util::future::join_all(reads).await;
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (sid, record) in sids.iter().zip(records) {
            match record? {
                Some(r) if r.sub == sub => {
                    if r.is_live(now) {
                        live.push(r);
                    }
                }
                _ => gone.push(sid.as_str()),
            }
        }
        self.unindex(sub, &gone).await;
        Ok(live)
    }

    async fn end_session(
        &self,
        sid: &str,
        sub: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Result<Option<SessionRecord>> {
        let ended = self.end_one(sid, sub, revocation_expires_at, now).await?;
        if let Some(record) = &ended {
            self.unindex(&record.sub, &[sid]).await;
        }
        Ok(ended)
    }

    async fn end_user_sessions(
        &self,
        sub: &str,
        keep: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Result<u64> {
        let sids = self.indexed(sub, now).await?;
        let targets: Vec<&str> = sids
            .iter()
            .map(String::as_str)
            .filter(|sid| Some(*sid) != keep)
            .collect();
        let ends = targets
            .iter()
            .map(|sid| self.end_one(sid, Some(sub), revocation_expires_at, now));
        let results = futures_util::future::join_all(ends).await;
        let mut ended = Vec::new();
        for (sid, result) in targets.iter().zip(results) {
            if result?.is_some() {
                ended.push(*sid);
            }
        }
        self.unindex(sub, &ended).await;
        Ok(ended.len() as u64)
    }

    async fn purge_sessions(&self, _now: i64) -> Result<u64> {
        Ok(0)
    }
}

/// The hash fields of a record (the sid is in the key).
fn fields(r: &SessionRecord) -> Vec<(&'static str, Vec<u8>)> {
    let num = |n: i64| n.to_string().into_bytes();
    let mut out = vec![
        ("sub", r.sub.clone().into_bytes()),
        ("gen", r.generation.to_string().into_bytes()),
        ("cr", num(r.created)),
        ("lu", num(r.last_used)),
        ("rot", num(r.rotated_at)),
        (
            "rm",
            if r.remember_me {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
        ),
        ("win", num(r.window)),
        ("exp", num(r.expires_at)),
        ("abs", num(r.absolute_expires_at)),
        (
            "cl",
            Json::Object(r.claims.clone()).to_string().into_bytes(),
        ),
        ("h", r.hash.to_vec()),
        ("sl", r.sealed.clone()),
    ];
    if let Some(ph) = r.parent_hash {
        out.push(("ph", ph.to_vec()));
    }
    if let Some(ua) = &r.device.user_agent {
        out.push(("ua", ua.clone().into_bytes()));
    }
    if let Some(ip) = &r.device.ip {
        out.push(("ip", ip.clone().into_bytes()));
    }
    if let Some(ended) = r.ended_at {
        out.push(("end", num(ended)));
    }
    out
}

fn parse_record(sid: &str, f: &Fields) -> Option<SessionRecord> {
    let text = |name: &str| -> Option<String> {
        f.get(name).and_then(|v| String::from_utf8(v.clone()).ok())
    };
    let num = |name: &str| -> Option<i64> { text(name)?.parse().ok() };
    let digest = |name: &str| -> Option<[u8; 32]> { f.get(name)?.as_slice().try_into().ok() };
    let claims: Map<String, Json> = serde_json::from_str(&text("cl")?).ok()?;
    Some(SessionRecord {
        sid: sid.to_owned(),
        sub: text("sub")?,
        generation: text("gen")?.parse().ok()?,
        created: num("cr")?,
        last_used: num("lu")?,
        rotated_at: num("rot")?,
        remember_me: text("rm")? == "1",
        window: num("win")?,
        expires_at: num("exp")?,
        absolute_expires_at: num("abs")?,
        claims,
        device: Device {
            user_agent: text("ua"),
            ip: text("ip"),
        },
        hash: digest("h")?,
        parent_hash: match f.get("ph") {
            Some(_) => Some(digest("ph")?),
            None => None,
        },
        sealed: f.get("sl")?.clone(),
        ended_at: match f.get("end") {
            Some(_) => Some(num("end")?),
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_hash_fields() {
        let mut claims = Map::new();
        claims.insert("role".into(), "admin".into());
        let record = SessionRecord {
            sid: "3f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b".into(),
            sub: "alice".into(),
            generation: 4,
            created: 1,
            last_used: 2,
            rotated_at: 3,
            remember_me: true,
            window: 100,
            expires_at: 50,
            absolute_expires_at: 200,
            claims,
            device: Device::new(Some("ua".into()), None),
            hash: [1; 32],
            parent_hash: Some([2; 32]),
            sealed: vec![0, 255, 3],
            ended_at: Some(7),
        };
        let map: Fields = fields(&record)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(parse_record(&record.sid, &map), Some(record.clone()));
        let fresh = SessionRecord {
            parent_hash: None,
            ended_at: None,
            ..record
        };
        let map: Fields = fields(&fresh)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(parse_record(&fresh.sid, &map), Some(fresh));
    }
}
