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

use redis::{ScriptInvocation, Value};
use serde_json::{Map, Value as Json};

use super::scripts::{CREATE, END, INDEX, ROTATE};
use super::{Conn, HINT, RedisStore, bounded, encode_change};
use crate::error::{Error, Result};
use crate::store::{Device, RotateOutcome, Rotation, SessionRecord, SessionStore};
use crate::store::{Revocation, Scope, unavailable};

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
        let mut invocation = END.prepare_invoke();
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
        let mut index = INDEX.prepare_invoke();
        index
            .key(self.user_sessions_key(&record.sub))
            .arg(now)
            .arg(record.absolute_expires_at)
            .arg(&record.sid)
            .arg(index_ttl);
        let _: Value = self.invoke(index).await?;
        let mut create = CREATE.prepare_invoke();
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
        let mut invocation = ROTATE.prepare_invoke();
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
