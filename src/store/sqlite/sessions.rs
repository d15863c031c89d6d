//! Sessions in the SQLite store: one row per session; every write inside `BEGIN IMMEDIATE`, so a
//! rotation (read, decide, write, and on reuse the session revocation) is one atomic step
//! across every process that shares the file.

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::{Map, Value};

use super::{SqliteStore, insert_revocation};
use crate::error::Result;
use crate::store::{Device, RotateOutcome, Rotation, SessionRecord, SessionStore};
use crate::store::{Revocation, Scope};

const COLUMNS: &str = "sid, sub, generation, created, last_used, rotated_at, remember_me, \
    refresh_window, expires_at, absolute_expires_at, claims, user_agent, ip, hash, parent_hash, \
    sealed, ended_at";

fn conversion(column: usize, message: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Blob,
        message.to_owned().into(),
    )
}

fn digest(column: usize, bytes: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| conversion(column, "a digest must be 32 bytes"))
}

fn read_record(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let claims: String = row.get(10)?;
    let claims: Map<String, Value> = serde_json::from_str(&claims)
        .map_err(|_| conversion(10, "claims are not a JSON object"))?;
    let generation: i64 = row.get(2)?;
    Ok(SessionRecord {
        sid: row.get(0)?,
        sub: row.get(1)?,
        generation: u64::try_from(generation).map_err(|_| conversion(2, "negative generation"))?,
        created: row.get(3)?,
        last_used: row.get(4)?,
        rotated_at: row.get(5)?,
        remember_me: row.get(6)?,
        window: row.get(7)?,
        expires_at: row.get(8)?,
        absolute_expires_at: row.get(9)?,
        claims,
        device: Device {
            user_agent: row.get(11)?,
            ip: row.get(12)?,
        },
        hash: digest(13, row.get(13)?)?,
        parent_hash: row
            .get::<_, Option<Vec<u8>>>(14)?
            .map(|b| digest(14, b))
            .transpose()?,
        sealed: row.get(15)?,
        ended_at: row.get(16)?,
    })
}

fn select(conn: &Connection, sid: &str) -> rusqlite::Result<Option<SessionRecord>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE sid = ?1"))?
        .query_row([sid], read_record)
        .optional()
}

fn write(conn: &Connection, r: &SessionRecord) -> rusqlite::Result<()> {
    let claims = Value::Object(r.claims.clone()).to_string();
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO sessions ({COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
    ))?
    .execute(params![
        r.sid,
        r.sub,
        i64::try_from(r.generation).unwrap_or(i64::MAX),
        r.created,
        r.last_used,
        r.rotated_at,
        r.remember_me,
        r.window,
        r.expires_at,
        r.absolute_expires_at,
        claims,
        r.device.user_agent,
        r.device.ip,
        r.hash.as_slice(),
        r.parent_hash.as_ref().map(|h| h.as_slice()),
        r.sealed,
        r.ended_at,
    ])?;
    Ok(())
}

fn session_revoked(conn: &Connection, sid: &str, now: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM revocations WHERE scope = 'session' AND id = ?1 AND expires_at > ?2",
    )?
    .exists(params![sid, now])
}

/// Ends one session inside the caller's transaction; returns it if it was live.
fn end(
    tx: &Connection,
    sid: &str,
    sub: Option<&str>,
    revocation_expires_at: i64,
    now: i64,
) -> rusqlite::Result<Option<SessionRecord>> {
    let Some(mut record) = select(tx, sid)? else {
        return Ok(None);
    };
    if sub.is_some_and(|sub| sub != record.sub) {
        return Ok(None);
    }
    let was_live = record.is_live(now);
    if was_live {
        record.ended_at = Some(now);
        tx.prepare_cached("UPDATE sessions SET ended_at = ?2 WHERE sid = ?1")?
            .execute(params![sid, now])?;
    }
    let entry = Revocation::new(Scope::Session, sid, now, revocation_expires_at);
    if entry.expires_at > now {
        insert_revocation(tx, &entry, now)?;
    }
    Ok(was_live.then_some(record))
}

fn purge_sessions(conn: &Connection, now: i64) -> rusqlite::Result<u64> {
    let purged = conn
        .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([now])?;
    Ok(purged as u64)
}

impl SessionStore for SqliteStore {
    async fn create_session(&self, record: &SessionRecord, now: i64) -> Result<()> {
        let record = record.clone();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Opportunistic cleanup: an index range delete, usually of nothing.
            purge_sessions(&tx, now)?;
            write(&tx, &record)?;
            tx.commit()
        })
        .await
    }

    async fn rotate_session(&self, rotation: &Rotation, now: i64) -> Result<RotateOutcome> {
        let rotation = rotation.clone();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let record = select(&tx, &rotation.sid)?;
            let revoked = session_revoked(&tx, &rotation.sid, now)?;
            let outcome = rotation.apply(record, revoked, now);
            match &outcome {
                RotateOutcome::Rotated(record) => write(&tx, record)?,
                RotateOutcome::Reused(record) => {
                    write(&tx, record)?;
                    let entry = Revocation::new(
                        Scope::Session,
                        record.sid.as_str(),
                        now,
                        rotation.revocation_expires_at,
                    );
                    if entry.expires_at > now {
                        insert_revocation(&tx, &entry, now)?;
                    }
                }
                RotateOutcome::Grace(_) | RotateOutcome::Unknown => {}
            }
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn session(&self, sid: &str, now: i64) -> Result<Option<SessionRecord>> {
        let sid = sid.to_owned();
        let record = self.run(move |conn| select(conn, &sid)).await?;
        Ok(record.filter(|r| r.expires_at > now))
    }

    async fn user_sessions(&self, sub: &str, now: i64) -> Result<Vec<SessionRecord>> {
        let sub = sub.to_owned();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM sessions \
                 WHERE sub = ?1 AND ended_at IS NULL AND expires_at > ?2"
            ))?;
            stmt.query_map(params![sub, now], read_record)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await
    }

    async fn end_session(
        &self,
        sid: &str,
        sub: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Result<Option<SessionRecord>> {
        let (sid, sub) = (sid.to_owned(), sub.map(str::to_owned));
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ended = end(&tx, &sid, sub.as_deref(), revocation_expires_at, now)?;
            tx.commit()?;
            Ok(ended)
        })
        .await
    }

    async fn end_user_sessions(
        &self,
        sub: &str,
        keep: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Result<u64> {
        let (sub, keep) = (sub.to_owned(), keep.map(str::to_owned));
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let sids: Vec<String> = tx
                .prepare_cached(
                    "SELECT sid FROM sessions \
                     WHERE sub = ?1 AND ended_at IS NULL AND expires_at > ?2",
                )?
                .query_map(params![sub, now], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut ended = 0;
            for sid in sids
                .iter()
                .filter(|sid| Some(sid.as_str()) != keep.as_deref())
            {
                if end(&tx, sid, Some(&sub), revocation_expires_at, now)?.is_some() {
                    ended += 1;
                }
            }
            tx.commit()?;
            Ok(ended)
        })
        .await
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let purged = purge_sessions(&tx, now)?;
            tx.commit()?;
            Ok(purged)
        })
        .await
    }
}
