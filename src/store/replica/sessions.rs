//! A replica keeps sessions in its store: every session verb goes to the store, and the session
//! revocations they write are applied to the local denylist at once (the feed brings them too).

use super::Replica;
use crate::error::Result;
use crate::store::{ChangeFeed, Revocation, Scope};
use crate::store::{RotateOutcome, Rotation, SessionRecord, SessionStore};

impl<S: SessionStore + ChangeFeed + 'static> Replica<S> {
    fn apply_session_revocation(&self, sid: &str, expires_at: i64, now: i64) {
        if expires_at > now {
            let entry = Revocation::new(Scope::Session, sid, now, expires_at);
            self.shared.write().apply(&entry, now);
        }
    }
}

impl<S: SessionStore + ChangeFeed + 'static> SessionStore for Replica<S> {
    async fn create_session(&self, record: &SessionRecord, now: i64) -> Result<()> {
        self.shared.store.create_session(record, now).await
    }

    async fn rotate_session(&self, rotation: &Rotation, now: i64) -> Result<RotateOutcome> {
        let outcome = self.shared.store.rotate_session(rotation, now).await?;
        if let RotateOutcome::Reused(record) = &outcome {
            self.apply_session_revocation(&record.sid, rotation.revocation_expires_at, now);
        }
        Ok(outcome)
    }

    async fn session(&self, sid: &str, now: i64) -> Result<Option<SessionRecord>> {
        self.shared.store.session(sid, now).await
    }

    async fn user_sessions(&self, sub: &str, now: i64) -> Result<Vec<SessionRecord>> {
        self.shared.store.user_sessions(sub, now).await
    }

    async fn end_session(
        &self,
        sid: &str,
        sub: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Result<Option<SessionRecord>> {
        let ended = self
            .shared
            .store
            .end_session(sid, sub, revocation_expires_at, now)
            .await?;
        if ended.is_some() {
            self.apply_session_revocation(sid, revocation_expires_at, now);
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
        // The sessions about to end, so that their revocations apply here at once.
        let live = self.shared.store.user_sessions(sub, now).await?;
        let ended = self
            .shared
            .store
            .end_user_sessions(sub, keep, revocation_expires_at, now)
            .await?;
        for record in live.iter().filter(|r| Some(r.sid.as_str()) != keep) {
            self.apply_session_revocation(&record.sid, revocation_expires_at, now);
        }
        Ok(ended)
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        self.shared.store.purge_sessions(now).await
    }
}
