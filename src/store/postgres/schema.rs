//! The PostgreSQL schema: created on open, versioned in `tollgate_meta`, and the statements
//! that touch the change sequence and the entries' merge rule.

use super::Cause;
use crate::store::DEFAULT_MAX_LEEWAY;

/// The schema version this code writes.
pub(super) const SCHEMA_VERSION: i64 = 1;

/// Advisory lock classes (the two-key form, a key space apart from an application's one-key
/// locks): the schema, and one user's logins and ends (key `hashtext(sub)`).
const SCHEMA_LOCK: &str = "SELECT pg_advisory_xact_lock(1952936803, 0)"; // "tgsc"
pub(super) const USER_LOCK: &str = "SELECT pg_advisory_xact_lock(1952937331, hashtext($1))"; // "tgus"

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS tollgate_meta (name text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO tollgate_meta (name, value) VALUES ('schema', 1), ('seq', 0)
    ON CONFLICT (name) DO NOTHING;
CREATE TABLE IF NOT EXISTS tollgate_entries (
    key bytea PRIMARY KEY CHECK (length(key) = 17),
    revoked_at bigint NOT NULL,
    stamp bigint NOT NULL,
    expires_at bigint NOT NULL,
    seq bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS tollgate_entries_by_seq ON tollgate_entries (seq);
CREATE INDEX IF NOT EXISTS tollgate_entries_by_expiry ON tollgate_entries (expires_at);
CREATE TABLE IF NOT EXISTS tollgate_sessions (
    sid text PRIMARY KEY,
    sub text NOT NULL,
    generation bigint NOT NULL,
    created bigint NOT NULL,
    last_used bigint NOT NULL,
    rotated_at bigint NOT NULL,
    remember_me boolean NOT NULL,
    refresh_window bigint NOT NULL,
    expires_at bigint NOT NULL,
    absolute_expires_at bigint NOT NULL,
    claims text NOT NULL,
    user_agent text,
    ip text,
    hash bytea NOT NULL,
    parent_hash bytea,
    sealed bytea NOT NULL,
    ended_at bigint,
    issued_at bigint NOT NULL,
    access_exp bigint NOT NULL,
    undelivered bigint,
    client_id text
);
CREATE INDEX IF NOT EXISTS tollgate_sessions_by_sub ON tollgate_sessions (sub);
CREATE INDEX IF NOT EXISTS tollgate_sessions_by_expiry ON tollgate_sessions (expires_at);
-- The store's clock: an injected reading (tests), or the server's clock now (not the
-- transaction's start: a write reads it after taking its locks).
CREATE OR REPLACE FUNCTION tollgate_now(injected bigint) RETURNS bigint
    LANGUAGE sql VOLATILE
    AS $$ SELECT COALESCE(injected, floor(extract(epoch FROM clock_timestamp()))::bigint) $$;
";

/// The change sequence.
pub(super) const SEQUENCE: &str = "SELECT value FROM tollgate_meta WHERE name = 'seq'";

/// Locks the change sequence row until commit (every write of entry rows holds it).
pub(super) const LOCK_SEQUENCE: &str =
    "SELECT value FROM tollgate_meta WHERE name = 'seq' FOR UPDATE";

/// Takes the next change sequence number; the row stays locked until commit, so numbers
/// become visible in the order they were taken.
pub(super) const NEXT_SEQUENCE: &str =
    "UPDATE tollgate_meta SET value = value + 1 WHERE name = 'seq' RETURNING value";

/// The merge rule (the SQLite store's): an expired leftover row is replaced, a live one keeps
/// the later times; the row takes the new sequence number either way.
pub(super) const UPSERT_ENTRY: &str = "\
INSERT INTO tollgate_entries AS e (key, revoked_at, stamp, expires_at, seq)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key) DO UPDATE SET
    revoked_at = CASE WHEN e.expires_at <= excluded.stamp THEN excluded.revoked_at
                 ELSE GREATEST(e.revoked_at, excluded.revoked_at) END,
    stamp = CASE WHEN e.expires_at <= excluded.stamp THEN excluded.stamp
            ELSE GREATEST(e.stamp, excluded.stamp) END,
    expires_at = CASE WHEN e.expires_at <= excluded.stamp THEN excluded.expires_at
                 ELSE GREATEST(e.expires_at, excluded.expires_at) END,
    seq = excluded.seq
RETURNING key, revoked_at, stamp, expires_at";

/// Creates the schema unless this version of it is there, refuses a newer one, and records the
/// maximum leeway (`asked`, or the default, on a new store); returns the recorded one.
pub(super) async fn create(
    tx: &deadpool_postgres::Transaction<'_>,
    asked: Option<i64>,
) -> Result<i64, Cause> {
    tx.batch_execute(SCHEMA_LOCK).await?;
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass('tollgate_meta') IS NOT NULL \
             AND to_regprocedure('tollgate_now(bigint)') IS NOT NULL",
            &[],
        )
        .await?
        .try_get(0)?;
    let version: Option<i64> = if exists {
        tx.query_opt("SELECT value FROM tollgate_meta WHERE name = 'schema'", &[])
            .await?
            .map(|row| row.try_get(0))
            .transpose()?
    } else {
        None
    };
    match version {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(Cause::Data(format!(
                "schema version {v}, newer than {SCHEMA_VERSION}"
            )));
        }
        // Already there: no DDL, so that a user without CREATE rights can open it.
        Some(v) if v == SCHEMA_VERSION => {}
        _ => tx.batch_execute(TABLES).await?,
    }
    // Added within schema 1 (issue 11): the caller that started a session, NULL in rows
    // written before. Older binaries neither read nor overwrite it, so the version stays; the
    // DDL runs only when the column is missing.
    let has_client_id: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'tollgate_sessions' \
             AND column_name = 'client_id')",
            &[],
        )
        .await?
        .try_get(0)?;
    if !has_client_id {
        tx.batch_execute("ALTER TABLE tollgate_sessions ADD COLUMN IF NOT EXISTS client_id text")
            .await?;
    }
    let row = tx
        .query_one(
            // Recorded on a new store only; it never changes afterwards.
            "INSERT INTO tollgate_meta AS m (name, value) VALUES ('max_leeway', $1::bigint) \
             ON CONFLICT (name) DO UPDATE SET value = m.value \
             RETURNING value",
            &[&asked.unwrap_or(DEFAULT_MAX_LEEWAY)],
        )
        .await?;
    Ok(row.try_get(0)?)
}
