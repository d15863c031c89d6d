//! Sessions in the SQLite store: one row per session; every write inside `BEGIN IMMEDIATE`, so a
//! rotation (read, decide, write, and on reuse the session revocation) is one atomic step
//! across every process that shares the file.

use std::sync::atomic::Ordering;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value};

use super::{SqliteStore, live_entry, write_revocation};
use crate::error::Result;
use crate::keys::Namespace;
use crate::store::session::check_user_revocation;
use crate::store::{
    Device, Ended, Entry, EntryKey, NewSession, Revocation, RotateOutcome, Rotation, Scope,
    SessionRecord, SessionStore,
};

const COLUMNS: &str = "sid, sub, generation, created, last_used, rotated_at, remember_me, \
    refresh_window, expires_at, absolute_expires_at, claims, user_agent, ip, hash, parent_hash, \
    sealed, ended_at, issued_at, access_exp, undelivered, client_id";

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

fn unsigned(column: usize, value: i64) -> rusqlite::Result<u64> {
    u64::try_from(value).map_err(|_| conversion(column, "negative generation"))
}

fn read_record(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let claims: String = row.get(10)?;
    let claims: Map<String, Value> = serde_json::from_str(&claims)
        .map_err(|_| conversion(10, "claims are not a JSON object"))?;
    Ok(SessionRecord {
        sid: row.get(0)?,
        sub: row.get(1)?,
        generation: unsigned(2, row.get(2)?)?,
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
        issued_at: row.get(17)?,
        access_exp: row.get(18)?,
        undelivered: row
            .get::<_, Option<i64>>(19)?
            .map(|g| unsigned(19, g))
            .transpose()?,
        client_id: row.get(20)?,
    })
}

fn select(conn: &Connection, sid: &str) -> rusqlite::Result<Option<SessionRecord>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE sid = ?1"))?
        .query_row([sid], read_record)
        .optional()
}

fn write(conn: &Connection, r: &SessionRecord) -> rusqlite::Result<()> {
    let claims = Value::Object(r.claims.clone()).to_string();
    let generation = |g: u64| i64::try_from(g).unwrap_or(i64::MAX);
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO sessions ({COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"
    ))?
    .execute(params![
        r.sid,
        r.sub,
        generation(r.generation),
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
        r.issued_at,
        r.access_exp,
        r.undelivered.map(generation),
        r.client_id,
    ])?;
    Ok(())
}

/// The end rule on a row, and its revocation when it ends now.
fn end(
    tx: &Connection,
    sid: &str,
    owner: Option<&str>,
    now: i64,
    max_leeway: i64,
) -> rusqlite::Result<Ended> {
    let Some(mut record) = select(tx, sid)? else {
        return Ok(Ended::Missing);
    };
    if owner.is_some_and(|owner| owner != record.sub) {
        return Ok(Ended::Missing);
    }
    if !record.end(now) {
        return Ok(Ended::Already(record));
    }
    tx.prepare_cached("UPDATE sessions SET ended_at = ?2 WHERE sid = ?1")?
        .execute(params![sid, now])?;
    write_revocation(tx, &record.revocation(now, max_leeway), now, max_leeway)?;
    Ok(Ended::Now(record))
}

fn live_sids(tx: &Connection, sub: &str, now: i64) -> rusqlite::Result<Vec<String>> {
    tx.prepare_cached(
        "SELECT sid FROM sessions WHERE sub = ?1 AND ended_at IS NULL AND expires_at > ?2",
    )?
    .query_map(params![sub, now], |r| r.get(0))?
    .collect()
}

fn purge_sessions(conn: &Connection, now: i64) -> rusqlite::Result<u64> {
    let purged = conn
        .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([now])?;
    Ok(purged as u64)
}

impl SqliteStore {
    fn leeway(&self) -> i64 {
        self.inner.max_leeway.load(Ordering::Relaxed)
    }
}

impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &NewSession) -> Result<SessionRecord> {
        let session = session.clone();
        self.write(move |tx, now| {
            // Opportunistic cleanup: an index range delete, usually of nothing.
            purge_sessions(tx, now)?;
            let record = session.record(now);
            write(tx, &record)?;
            Ok(record)
        })
        .await
    }

    async fn rotate_session(&self, rotation: &Rotation) -> Result<RotateOutcome> {
        let rotation = rotation.clone();
        let max_leeway = self.leeway();
        self.write(move |tx, now| {
            let record = select(tx, &rotation.sid)?;
            let key = EntryKey::new(&Namespace::Own, Scope::Session, &rotation.sid);
            let revoked = live_entry(tx, &key, now)?.is_some();
            let outcome = rotation.apply(record, revoked, now);
            match &outcome {
                RotateOutcome::Rotated(record) => write(tx, record)?,
                RotateOutcome::Reused(record) => {
                    write(tx, record)?;
                    write_revocation(tx, &record.revocation(now, max_leeway), now, max_leeway)?;
                }
                RotateOutcome::Grace(_) | RotateOutcome::Unknown => {}
            }
            Ok(outcome)
        })
        .await
    }

    async fn mark_undelivered(&self, sid: &str, generation: u64, undelivered: bool) -> Result<()> {
        let sid = sid.to_owned();
        let generation = i64::try_from(generation).unwrap_or(i64::MAX);
        self.write(move |tx, _| {
            tx.prepare_cached(
                "UPDATE sessions SET undelivered = CASE WHEN ?3 THEN ?2 END \
                 WHERE sid = ?1 AND generation = ?2",
            )?
            .execute(params![sid, generation, undelivered])?;
            Ok(())
        })
        .await
    }

    async fn session(&self, sid: &str) -> Result<Option<SessionRecord>> {
        let sid = sid.to_owned();
        let now = self.inner.clock.now();
        let record = self.run(move |conn| select(conn, &sid)).await?;
        Ok(record.filter(|r| r.expires_at > now))
    }

    async fn user_sessions(&self, sub: &str) -> Result<Vec<SessionRecord>> {
        let sub = sub.to_owned();
        let now = self.inner.clock.now();
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

    async fn end_session(&self, sid: &str, owner: Option<&str>) -> Result<Ended> {
        let (sid, owner) = (sid.to_owned(), owner.map(str::to_owned));
        let max_leeway = self.leeway();
        self.write(move |tx, now| end(tx, &sid, owner.as_deref(), now, max_leeway))
            .await
    }

    async fn revoke_user(&self, revocation: &Revocation) -> Result<(Entry, Vec<SessionRecord>)> {
        check_user_revocation(revocation)?;
        let revocation = revocation.clone();
        let max_leeway = self.leeway();
        // One transaction: a login either commits before (and is ended here) or after (and
        // its creation time is after the entry's stamp).
        self.write(move |tx, now| {
            let entry = write_revocation(tx, &revocation, now, max_leeway)?;
            let mut ended = Vec::new();
            for sid in live_sids(tx, &revocation.id, now)? {
                if let Ended::Now(record) = end(tx, &sid, Some(&revocation.id), now, max_leeway)? {
                    ended.push(record);
                }
            }
            Ok((entry, ended))
        })
        .await
    }

    async fn end_user_sessions(&self, sub: &str, keep: Option<&str>) -> Result<Vec<SessionRecord>> {
        let (sub, keep) = (sub.to_owned(), keep.map(str::to_owned));
        let max_leeway = self.leeway();
        self.write(move |tx, now| {
            let mut ended = Vec::new();
            for sid in live_sids(tx, &sub, now)? {
                if Some(sid.as_str()) == keep.as_deref() {
                    continue;
                }
                if let Ended::Now(record) = end(tx, &sid, Some(&sub), now, max_leeway)? {
                    ended.push(record);
                }
            }
            Ok(ended)
        })
        .await
    }

    async fn purge_sessions(&self) -> Result<u64> {
        self.write(purge_sessions).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_session(sid: &str, client_id: Option<&str>) -> NewSession {
        NewSession {
            sid: sid.to_owned(),
            sub: "alice".to_owned(),
            remember_me: false,
            window: 3_600,
            lifetime: 86_400,
            claims: Map::new(),
            client_id: client_id.map(str::to_owned),
            device: Device::default(),
            hash: [1; 32],
            issued_at: 0,
            access_exp: 900,
        }
    }

    /// Issue 11: a database written before sessions recorded their caller (no `client_id`
    /// column) still opens, its sessions load without a caller, and new ones keep theirs.
    #[tokio::test]
    async fn issue_11_a_database_from_before_client_id_still_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = "3f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b";
        {
            let store = SqliteStore::open(&path).await.unwrap();
            store
                .create_session(&new_session(old, Some("web")))
                .await
                .unwrap();
        }
        // As the previous version (schema 3) left it: no client_id column at all.
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "ALTER TABLE sessions DROP COLUMN client_id; \
                 UPDATE meta SET value = 3 WHERE name = 'schema';",
            )
            .unwrap();

        let store = SqliteStore::open(&path).await.unwrap();
        let record = store.session(old).await.unwrap().expect("the old session");
        assert_eq!((record.sub.as_str(), record.client_id), ("alice", None));
        let new = "4f9a1c2e-0b7d-4e5f-8a9b-0c1d2e3f4a5b";
        store
            .create_session(&new_session(new, Some("web")))
            .await
            .unwrap();
        let record = store.session(new).await.unwrap().unwrap();
        assert_eq!(record.client_id.as_deref(), Some("web"));
        // Opening again (the column now exists) changes nothing.
        drop(store);
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store
                .session(new)
                .await
                .unwrap()
                .unwrap()
                .client_id
                .as_deref(),
            Some("web")
        );
    }
}
