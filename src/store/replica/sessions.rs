//! A replica keeps sessions in its store: every session verb goes to the store, and the session
//! revocations they write are applied to the local denylist at once (the feed brings them too).

use super::Replica;
use crate::error::Result;
use crate::store::{
    ChangeFeed, Ended, Entry, NewSession, Revocation, RotateOutcome, Rotation, SessionRecord,
    SessionStore,
};

impl<S: SessionStore + ChangeFeed + 'static> Replica<S> {
    /// Applies the revocation that ending `record` wrote, so that this process refuses its
    /// tokens at once (the feed would bring it within its delay).
    fn apply_ended(&self, record: &SessionRecord) {
        let now = self.shared.config.clock.now();
        let revocation = record.revocation(now, self.shared.store.max_leeway());
        let horizon = self.shared.horizon();
        self.shared.write().apply(&revocation.entry(now), horizon);
    }
}

impl<S: SessionStore + ChangeFeed + 'static> SessionStore for Replica<S> {
    async fn create_session(&self, session: &NewSession) -> Result<SessionRecord> {
        self.shared.store.create_session(session).await
    }

    async fn rotate_session(&self, rotation: &Rotation) -> Result<RotateOutcome> {
        let outcome = self.shared.store.rotate_session(rotation).await?;
        if let RotateOutcome::Reused(record) = &outcome {
            self.apply_ended(record);
        }
        Ok(outcome)
    }

    async fn mark_undelivered(&self, sid: &str, generation: u64, undelivered: bool) -> Result<()> {
        self.shared
            .store
            .mark_undelivered(sid, generation, undelivered)
            .await
    }

    async fn session(&self, sid: &str) -> Result<Option<SessionRecord>> {
        self.shared.store.session(sid).await
    }

    async fn user_sessions(&self, sub: &str) -> Result<Vec<SessionRecord>> {
        self.shared.store.user_sessions(sub).await
    }

    async fn end_session(&self, sid: &str, owner: Option<&str>) -> Result<Ended> {
        let ended = self.shared.store.end_session(sid, owner).await?;
        if let Ended::Now(record) = &ended {
            self.apply_ended(record);
        }
        Ok(ended)
    }

    async fn revoke_user(&self, revocation: &Revocation) -> Result<(Entry, Vec<SessionRecord>)> {
        let (entry, ended) = self.shared.store.revoke_user(revocation).await?;
        let horizon = self.shared.horizon();
        self.shared.write().apply(&entry, horizon);
        for record in &ended {
            self.apply_ended(record);
        }
        Ok((entry, ended))
    }

    async fn end_user_sessions(&self, sub: &str, keep: Option<&str>) -> Result<Vec<SessionRecord>> {
        let ended = self.shared.store.end_user_sessions(sub, keep).await?;
        for record in &ended {
            self.apply_ended(record);
        }
        Ok(ended)
    }

    async fn purge_sessions(&self) -> Result<u64> {
        self.shared.store.purge_sessions().await
    }
}
