//! Sessions in Redis (one node or a cluster).
//!
//! # Keys
//!
//! | what | key | type |
//! | --- | --- | --- |
//! | a session's record | `<prefix>v2:{s<digest>}:f` | hash, expiring at its sliding expiry |
//! | its session entry | `<prefix>v2:{s<digest>}` | string (the entry layout) |
//! | a user's sessions | `<prefix>v2:{u<digest>}:s` | sorted set of sids scored by absolute expiry |
//! | the user's entry | `<prefix>v2:{u<digest>}` | string (the entry layout) |
//!
//! The record and its session entry share a hash tag, so one cluster slot: a rotation is ONE
//! Lua script (one round trip, `EVALSHA`) that reads the record, decides with the rule of
//! [`Rotation::apply`] on the server's clock (digests compared with an XOR-accumulate loop, not
//! `==`), writes the record, and on reuse writes the session entry and publishes it to
//! replicas. Ending a session is one script on the same slot too.
//!
//! # The per-user index and its consistency
//!
//! The index shares its slot with the user's entry, so a user revocation writes the entry and
//! reads the index in ONE script, and a login indexes itself (and takes its creation time from
//! that slot's clock) in one script on the same slot: a login is either indexed before the
//! revocation, and ended by it, or created at or after its stamp. The record lives in another
//! slot, so the steps are ordered so that the index is always a superset of the user's live
//! records:
//!
//! - login adds the sid to the index (scored by the absolute expiry) *before* it creates the
//!   record; a crash in between leaves a dangling sid;
//! - a rotation never touches the index (the absolute expiry does not move);
//! - ending a session removes its sid *after* the record is marked ended;
//! - listing drops sids whose score has passed and sids whose record is gone.

use std::collections::HashMap;

use redis::Value;
use serde_json::{Map, Value as Json};

use super::scripts::{CREATE, END, INDEX, REVOKE_USER, ROTATE, UNDELIVERED};
use super::{HINT, RedisStore};
use crate::error::{Error, Result};
use crate::keys::Namespace;
use crate::store::session::check_user_revocation;
use crate::store::{
    Device, Ended, Entry, EntryKey, NewSession, Revocation, RevocationStore, RotateOutcome,
    Rotation, Scope, SessionRecord, SessionStore, unavailable,
};

type Fields = HashMap<String, Vec<u8>>;

impl RedisStore {
    fn corrupt(&self, sid: &str) -> Error {
        unavailable(
            &self.inner.url,
            format!(
                "session record {} is malformed",
                crate::error::quoted(&crate::store::sid_prefix(sid))
            ),
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
        cmd.arg(self.index_key(sub)).arg(sids);
        if let Err(e) = self.query::<Value>(&cmd).await {
            tracing::debug!(error = %e, "could not prune the user's session index");
        }
    }

    /// The sids in a user's index whose absolute expiry is after the server's now.
    async fn indexed(&self, sub: &str) -> Result<Vec<String>> {
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(self.index_key(sub))
            .arg(format!("({}", crate::clock::Clock::System.now()))
            .arg("+inf");
        self.query(&cmd).await
    }

    fn session_entry(sid: &str) -> EntryKey {
        EntryKey::new(&Namespace::Own, Scope::Session, sid)
    }

    async fn end_one(&self, sid: &str, owner: Option<&str>) -> Result<Ended> {
        let entry = RedisStore::session_entry(sid);
        let mut invocation = END.prepare_invoke();
        invocation
            .key(self.record_key(sid))
            .key(self.entry_key(&entry))
            .arg(owner.unwrap_or(""))
            .arg(self.max_leeway())
            .arg(&self.inner.channel)
            .arg(entry.to_hex());
        let (tag, fields): (String, Fields) = self.invoke(invocation).await?;
        Ok(match tag.as_str() {
            "ended" => Ended::Now(self.parse(sid, &fields)?),
            "already" => Ended::Already(self.parse(sid, &fields)?),
            _ => Ended::Missing,
        })
    }
}

impl SessionStore for RedisStore {
    async fn create_session(&self, session: &NewSession) -> Result<SessionRecord> {
        // The index first (it must always cover every live record): on the user's slot, whose
        // clock stamps the session's creation.
        let mut index = INDEX.prepare_invoke();
        index
            .key(self.index_key(&session.sub))
            .arg(&session.sid)
            .arg(session.lifetime);
        let created: i64 = self.invoke(index).await?;
        let record = session.record(created);
        let mut create = CREATE.prepare_invoke();
        create
            .key(self.record_key(&record.sid))
            .arg(record.expires_at.max(created + 1));
        for (name, value) in fields(&record) {
            create.arg(name).arg(value);
        }
        let _: Value = self.invoke(create).await?;
        Ok(record)
    }

    async fn rotate_session(&self, rotation: &Rotation) -> Result<RotateOutcome> {
        let sid = rotation.sid.as_str();
        let entry = RedisStore::session_entry(sid);
        let mut invocation = ROTATE.prepare_invoke();
        invocation
            .key(self.record_key(sid))
            .key(self.entry_key(&entry))
            .arg(rotation.generation)
            .arg(rotation.hash.as_slice())
            .arg(rotation.next_hash.as_slice())
            .arg(rotation.sealed.as_slice())
            .arg(rotation.grace)
            .arg(rotation.issued_at)
            .arg(rotation.access_exp)
            .arg(self.max_leeway())
            .arg(&self.inner.channel)
            .arg(entry.to_hex());
        let (tag, fields): (String, Fields) = self.invoke(invocation).await?;
        Ok(match tag.as_str() {
            "rotated" => RotateOutcome::Rotated(self.parse(sid, &fields)?),
            "grace" => RotateOutcome::Grace(self.parse(sid, &fields)?),
            "reused" => RotateOutcome::Reused(self.parse(sid, &fields)?),
            _ => RotateOutcome::Unknown,
        })
    }

    async fn mark_undelivered(&self, sid: &str, generation: u64, undelivered: bool) -> Result<()> {
        let mut invocation = UNDELIVERED.prepare_invoke();
        invocation
            .key(self.record_key(sid))
            .arg(generation)
            .arg(u8::from(undelivered));
        let _: Value = self.invoke(invocation).await?;
        Ok(())
    }

    async fn session(&self, sid: &str) -> Result<Option<SessionRecord>> {
        let fields: Fields = self
            .query(redis::cmd("HGETALL").arg(self.record_key(sid)))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        // The record expires by itself (EXAT) at its sliding expiry.
        Ok(Some(self.parse(sid, &fields)?))
    }

    async fn user_sessions(&self, sub: &str) -> Result<Vec<SessionRecord>> {
        let now = crate::clock::Clock::System.now();
        let sids = self.indexed(sub).await?;
        let reads = sids.iter().map(|sid| self.session(sid));
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

    async fn end_session(&self, sid: &str, owner: Option<&str>) -> Result<Ended> {
        let ended = self.end_one(sid, owner).await?;
        if let Ended::Now(record) = &ended {
            self.unindex(&record.sub, &[sid]).await;
        }
        Ok(ended)
    }

    async fn revoke_user(&self, revocation: &Revocation) -> Result<(Entry, Vec<SessionRecord>)> {
        check_user_revocation(revocation)?;
        let key = revocation.key();
        let mut invocation = REVOKE_USER.prepare_invoke();
        invocation
            .key(self.entry_key(&key))
            .key(self.index_key(&revocation.id))
            .arg(revocation.revoked_at)
            .arg(revocation.expires_at)
            .arg(revocation.lifetime)
            .arg(crate::store::purge_margin(self.max_leeway()))
            .arg(&self.inner.channel)
            .arg(key.to_hex());
        let (times, sids): (Vec<i64>, Vec<String>) = self.invoke(invocation).await?;
        let entry = self.stored(key, &times)?;
        // Every session indexed before the entry: ended one by one on their own slots. A crash
        // here leaves them covered by the entry (refresh checks it) until it expires; the
        // caller gets the error and revoking again is safe.
        let ends = sids
            .iter()
            .map(|sid| self.end_one(sid, Some(&revocation.id)));
        let results = futures_util::future::join_all(ends).await;
        let mut ended = Vec::new();
        for result in results {
            if let Ended::Now(record) = result? {
                ended.push(record);
            }
        }
        let sids: Vec<&str> = ended.iter().map(|r| r.sid.as_str()).collect();
        self.unindex(&revocation.id, &sids).await;
        Ok((entry, ended))
    }

    async fn end_user_sessions(&self, sub: &str, keep: Option<&str>) -> Result<Vec<SessionRecord>> {
        let sids = self.indexed(sub).await?;
        let targets: Vec<&str> = sids
            .iter()
            .map(String::as_str)
            .filter(|sid| Some(*sid) != keep)
            .collect();
        let ends = targets.iter().map(|sid| self.end_one(sid, Some(sub)));
        let results = futures_util::future::join_all(ends).await;
        let mut ended = Vec::new();
        for result in results {
            if let Ended::Now(record) = result? {
                ended.push(record);
            }
        }
        let sids: Vec<&str> = ended.iter().map(|r| r.sid.as_str()).collect();
        self.unindex(sub, &sids).await;
        Ok(ended)
    }

    async fn purge_sessions(&self) -> Result<u64> {
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
        ("ia", num(r.issued_at)),
        ("ax", num(r.access_exp)),
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
    if let Some(generation) = r.undelivered {
        out.push(("ud", generation.to_string().into_bytes()));
    }
    if let Some(client_id) = &r.client_id {
        out.push(("ci", client_id.clone().into_bytes()));
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
        // Absent from records written before issue 11.
        client_id: text("ci"),
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
        issued_at: num("ia")?,
        access_exp: num("ax")?,
        undelivered: match f.get("ud") {
            Some(_) => Some(text("ud")?.parse().ok()?),
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
            issued_at: 3,
            access_exp: 903,
            undelivered: Some(4),
            client_id: Some("web".into()),
        };
        let map: Fields = fields(&record)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(parse_record(&record.sid, &map), Some(record.clone()));
        let fresh = SessionRecord {
            parent_hash: None,
            ended_at: None,
            undelivered: None,
            client_id: None,
            ..record
        };
        let map: Fields = fields(&fresh)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(parse_record(&fresh.sid, &map), Some(fresh));
    }
}
