//! Sessions in the PostgreSQL store: one row per session. A rotation locks its row
//! (`SELECT … FOR UPDATE`) and decides, writes and (on reuse) revokes inside one transaction,
//! so it is one atomic step across every process that shares the database.

use std::sync::LazyLock;

use deadpool_postgres::Transaction;
use serde_json::{Map, Value};
use tokio_postgres::Row;

use super::{Cause, PostgresStore, live_entry, schema, write_revocation};
use crate::error::Result;
use crate::keys::Namespace;
use crate::store::session::check_user_revocation;
use crate::store::{
    Device, Ended, Entry, EntryKey, NewSession, Revocation, RotateOutcome, Rotation, Scope,
    SessionRecord, SessionStore,
};

const COLUMNS: [&str; 21] = [
    "sid",
    "sub",
    "generation",
    "created",
    "last_used",
    "rotated_at",
    "remember_me",
    "refresh_window",
    "expires_at",
    "absolute_expires_at",
    "claims",
    "user_agent",
    "ip",
    "hash",
    "parent_hash",
    "sealed",
    "ended_at",
    "issued_at",
    "access_exp",
    "undelivered",
    "client_id",
];

/// `SELECT <columns> FROM tollgate_sessions`.
static SELECT: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM tollgate_sessions", COLUMNS.join(", ")));

/// Inserts a record or replaces every column of the one with its `sid`.
static UPSERT: LazyLock<String> = LazyLock::new(|| {
    let params: Vec<String> = (1..=COLUMNS.len()).map(|i| format!("${i}")).collect();
    let set: Vec<String> = COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO tollgate_sessions ({}) VALUES ({}) ON CONFLICT (sid) DO UPDATE SET {}",
        COLUMNS.join(", "),
        params.join(", "),
        set.join(", ")
    )
});

/// Deletes expired records (by the store's clock) that nobody holds: a locked row is being
/// rotated or ended and goes next time, and purges never wait on each other.
const PURGE: &str = "DELETE FROM tollgate_sessions WHERE sid IN (\
    SELECT sid FROM tollgate_sessions WHERE expires_at <= (SELECT tollgate_now($1)) \
    LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// How many expired records a login purges on the way, at most.
const PURGE_ON_LOGIN: i64 = 100;

fn data(why: &str) -> Cause {
    Cause::Data(why.to_owned())
}

fn digest(bytes: Vec<u8>) -> Result<[u8; 32], Cause> {
    bytes
        .try_into()
        .map_err(|_| data("a session digest is not 32 bytes"))
}

fn generation(value: i64) -> Result<u64, Cause> {
    u64::try_from(value).map_err(|_| data("a negative session generation"))
}

fn stored_generation(g: u64) -> i64 {
    i64::try_from(g).unwrap_or(i64::MAX)
}

fn read_record(row: &Row) -> Result<SessionRecord, Cause> {
    let claims: String = row.try_get(10)?;
    let claims: Map<String, Value> =
        serde_json::from_str(&claims).map_err(|_| data("session claims are not a JSON object"))?;
    Ok(SessionRecord {
        sid: row.try_get(0)?,
        sub: row.try_get(1)?,
        generation: generation(row.try_get(2)?)?,
        created: row.try_get(3)?,
        last_used: row.try_get(4)?,
        rotated_at: row.try_get(5)?,
        remember_me: row.try_get(6)?,
        window: row.try_get(7)?,
        expires_at: row.try_get(8)?,
        absolute_expires_at: row.try_get(9)?,
        claims,
        device: Device {
            user_agent: row.try_get(11)?,
            ip: row.try_get(12)?,
        },
        hash: digest(row.try_get(13)?)?,
        parent_hash: row
            .try_get::<_, Option<Vec<u8>>>(14)?
            .map(digest)
            .transpose()?,
        sealed: row.try_get(15)?,
        ended_at: row.try_get(16)?,
        issued_at: row.try_get(17)?,
        access_exp: row.try_get(18)?,
        undelivered: row
            .try_get::<_, Option<i64>>(19)?
            .map(generation)
            .transpose()?,
        client_id: row.try_get(20)?,
    })
}

/// The session `sid`, its row locked until the transaction ends.
async fn select_for_update(
    tx: &Transaction<'_>,
    sid: &str,
) -> Result<Option<SessionRecord>, Cause> {
    let stmt = tx
        .prepare_cached(&format!("{} WHERE sid = $1 FOR UPDATE", *SELECT))
        .await?;
    match tx.query_opt(&stmt, &[&sid]).await? {
        Some(row) => Ok(Some(read_record(&row)?)),
        None => Ok(None),
    }
}

async fn write(tx: &Transaction<'_>, r: &SessionRecord) -> Result<(), Cause> {
    let stmt = tx.prepare_cached(&UPSERT).await?;
    let claims = Value::Object(r.claims.clone()).to_string();
    let parent = r.parent_hash.as_ref().map(|h| h.as_slice());
    tx.execute(
        &stmt,
        &[
            &r.sid,
            &r.sub,
            &stored_generation(r.generation),
            &r.created,
            &r.last_used,
            &r.rotated_at,
            &r.remember_me,
            &r.window,
            &r.expires_at,
            &r.absolute_expires_at,
            &claims,
            &r.device.user_agent,
            &r.device.ip,
            &r.hash.as_slice(),
            &parent,
            &r.sealed,
            &r.ended_at,
            &r.issued_at,
            &r.access_exp,
            &r.undelivered.map(stored_generation),
            &r.client_id,
        ],
    )
    .await?;
    Ok(())
}

/// The end rule on a locked record, and its revocation when it ends now.
async fn end_locked(
    tx: &Transaction<'_>,
    mut record: SessionRecord,
    now: i64,
    max_leeway: i64,
) -> Result<Ended, Cause> {
    if !record.end(now) {
        return Ok(Ended::Already(record));
    }
    let stmt = tx
        .prepare_cached("UPDATE tollgate_sessions SET ended_at = $2 WHERE sid = $1")
        .await?;
    tx.execute(&stmt, &[&record.sid, &now]).await?;
    write_revocation(tx, &record.revocation(now, max_leeway), now, max_leeway).await?;
    Ok(Ended::Now(record))
}

/// Takes `sub`'s advisory lock, then locks every record of theirs that has not ended (ordered,
/// so two such transactions never deadlock).
async fn lock_user(tx: &Transaction<'_>, sub: &str) -> Result<Vec<SessionRecord>, Cause> {
    let lock = tx.prepare_cached(schema::USER_LOCK).await?;
    tx.execute(&lock, &[&sub]).await?;
    let stmt = tx
        .prepare_cached(&format!(
            "{} WHERE sub = $1 AND ended_at IS NULL ORDER BY sid FOR UPDATE",
            *SELECT
        ))
        .await?;
    tx.query(&stmt, &[&sub])
        .await?
        .iter()
        .map(read_record)
        .collect()
}

impl PostgresStore {
    async fn create_tx(&self, session: &NewSession) -> Result<SessionRecord, Cause> {
        let mut client = self.inner.pool.get().await?;
        let tx = self.begin(&mut client).await?;
        // After a revoke_user of the same user, or before it (and then ended by it).
        let lock = tx.prepare_cached(schema::USER_LOCK).await?;
        tx.execute(&lock, &[&session.sub]).await?;
        let purge = tx.prepare_cached(PURGE).await?;
        tx.execute(&purge, &[&self.injected(), &PURGE_ON_LOGIN])
            .await?;
        let now = self.now(&tx).await?;
        let record = session.record(now);
        write(&tx, &record).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn rotate_tx(&self, rotation: &Rotation) -> Result<RotateOutcome, Cause> {
        let mut client = self.inner.pool.get().await?;
        let tx = self.begin(&mut client).await?;
        let record = select_for_update(&tx, &rotation.sid).await?;
        let now = self.now(&tx).await?;
        let key = EntryKey::new(&Namespace::Own, Scope::Session, &rotation.sid);
        let revoked = live_entry(&tx, &key, now).await?.is_some();
        let outcome = rotation.apply(record, revoked, now);
        match &outcome {
            RotateOutcome::Rotated(record) => write(&tx, record).await?,
            RotateOutcome::Reused(record) => {
                write(&tx, record).await?;
                let max_leeway = self.leeway();
                let revocation = record.revocation(now, max_leeway);
                write_revocation(&tx, &revocation, now, max_leeway).await?;
            }
            RotateOutcome::Grace(_) | RotateOutcome::Unknown => {}
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn end_tx(&self, sid: &str, owner: Option<&str>) -> Result<Ended, Cause> {
        let mut client = self.inner.pool.get().await?;
        let tx = self.begin(&mut client).await?;
        let Some(record) = select_for_update(&tx, sid).await? else {
            return Ok(Ended::Missing);
        };
        if owner.is_some_and(|owner| owner != record.sub) {
            return Ok(Ended::Missing);
        }
        let now = self.now(&tx).await?;
        let ended = end_locked(&tx, record, now, self.leeway()).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Writes `revocation` (when given) and ends every live session of `sub` but `keep`, in one
    /// transaction; returns the stored entry and the sessions it ended.
    async fn end_user_tx(
        &self,
        sub: &str,
        revocation: Option<&Revocation>,
        keep: Option<&str>,
    ) -> Result<(Option<Entry>, Vec<SessionRecord>), Cause> {
        let mut client = self.inner.pool.get().await?;
        let tx = self.begin(&mut client).await?;
        let records = lock_user(&tx, sub).await?;
        let now = self.now(&tx).await?;
        let max_leeway = self.leeway();
        let entry = match revocation {
            Some(r) => Some(write_revocation(&tx, r, now, max_leeway).await?),
            None => None,
        };
        let mut ended = Vec::new();
        for record in records {
            if Some(record.sid.as_str()) == keep {
                continue;
            }
            if let Ended::Now(record) = end_locked(&tx, record, now, max_leeway).await? {
                ended.push(record);
            }
        }
        tx.commit().await?;
        Ok((entry, ended))
    }
}

impl SessionStore for PostgresStore {
    async fn create_session(&self, session: &NewSession) -> Result<SessionRecord> {
        self.write(|| self.create_tx(session)).await
    }

    async fn rotate_session(&self, rotation: &Rotation) -> Result<RotateOutcome> {
        self.write(|| self.rotate_tx(rotation)).await
    }

    async fn mark_undelivered(&self, sid: &str, generation: u64, undelivered: bool) -> Result<()> {
        let generation = stored_generation(generation);
        self.bounded(async {
            let client = self.inner.pool.get().await?;
            let stmt = client
                .prepare_cached(
                    "UPDATE tollgate_sessions \
                     SET undelivered = CASE WHEN $3 THEN $2 END \
                     WHERE sid = $1 AND generation = $2",
                )
                .await?;
            client
                .execute(&stmt, &[&sid, &generation, &undelivered])
                .await?;
            Ok(())
        })
        .await
    }

    async fn session(&self, sid: &str) -> Result<Option<SessionRecord>> {
        self.bounded(async {
            let client = self.inner.pool.get().await?;
            let stmt = client
                .prepare_cached(&format!(
                    "{} WHERE sid = $1 AND expires_at > (SELECT tollgate_now($2))",
                    *SELECT
                ))
                .await?;
            match client.query_opt(&stmt, &[&sid, &self.injected()]).await? {
                Some(row) => Ok(Some(read_record(&row)?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn user_sessions(&self, sub: &str) -> Result<Vec<SessionRecord>> {
        self.bounded(async {
            let client = self.inner.pool.get().await?;
            let stmt = client
                .prepare_cached(&format!(
                    "{} WHERE sub = $1 AND ended_at IS NULL \
                     AND expires_at > (SELECT tollgate_now($2))",
                    *SELECT
                ))
                .await?;
            client
                .query(&stmt, &[&sub, &self.injected()])
                .await?
                .iter()
                .map(read_record)
                .collect()
        })
        .await
    }

    async fn end_session(&self, sid: &str, owner: Option<&str>) -> Result<Ended> {
        self.write(|| self.end_tx(sid, owner)).await
    }

    async fn revoke_user(&self, revocation: &Revocation) -> Result<(Entry, Vec<SessionRecord>)> {
        check_user_revocation(revocation)?;
        let (entry, ended) = self
            .write(|| self.end_user_tx(&revocation.id, Some(revocation), None))
            .await?;
        // A revocation was given, so an entry was written.
        let entry = entry.unwrap_or_else(|| revocation.entry(revocation.revoked_at));
        Ok((entry, ended))
    }

    async fn end_user_sessions(&self, sub: &str, keep: Option<&str>) -> Result<Vec<SessionRecord>> {
        let (_, ended) = self.write(|| self.end_user_tx(sub, None, keep)).await?;
        Ok(ended)
    }

    async fn purge_sessions(&self) -> Result<u64> {
        self.bounded(async {
            let client = self.inner.pool.get().await?;
            let stmt = client.prepare_cached(PURGE).await?;
            Ok(client
                .execute(&stmt, &[&self.injected(), &i64::MAX])
                .await?)
        })
        .await
    }
}
