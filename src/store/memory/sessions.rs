//! Sessions in the memory store: a map of records and a per-user index behind one mutex, which
//! makes every rotation (and the session revocation it may write) one atomic step.

use std::collections::{BTreeSet, HashMap};

use super::MemoryStore;
use crate::error::Result;
use crate::keys::Namespace;
use crate::store::session::check_user_revocation;
use crate::store::{
    Ended, Entry, EntryKey, NewSession, Revocation, RotateOutcome, Rotation, Scope, SessionRecord,
    SessionStore,
};

#[derive(Debug, Default)]
pub(super) struct Sessions {
    families: HashMap<String, SessionRecord>,
    by_user: HashMap<String, BTreeSet<String>>,
}

impl Sessions {
    fn remove(&mut self, sid: &str) {
        if let Some(record) = self.families.remove(sid)
            && let Some(sids) = self.by_user.get_mut(&record.sub)
        {
            sids.remove(sid);
            if sids.is_empty() {
                self.by_user.remove(&record.sub);
            }
        }
    }

    fn purge(&mut self, now: i64) -> u64 {
        let expired: Vec<String> = self
            .families
            .values()
            .filter(|r| r.expires_at <= now)
            .map(|r| r.sid.clone())
            .collect();
        for sid in &expired {
            self.remove(sid);
        }
        expired.len() as u64
    }

    fn live_sids(&self, sub: &str, now: i64) -> Vec<String> {
        self.by_user
            .get(sub)
            .into_iter()
            .flatten()
            .filter(|sid| self.families.get(*sid).is_some_and(|r| r.is_live(now)))
            .cloned()
            .collect()
    }
}

impl MemoryStore {
    /// Ends `sid` under the sessions lock: the end rule, and its revocation when it ends now.
    fn end_locked(
        &self,
        sessions: &mut Sessions,
        sid: &str,
        owner: Option<&str>,
        now: i64,
    ) -> Ended {
        let Some(record) = sessions.families.get_mut(sid) else {
            return Ended::Missing;
        };
        if owner.is_some_and(|owner| owner != record.sub) {
            return Ended::Missing;
        }
        if !record.end(now) {
            return Ended::Already(record.clone());
        }
        let ended = record.clone();
        self.store_entry(&ended.revocation(now, self.inner.max_leeway), now);
        Ended::Now(ended)
    }
}

impl SessionStore for MemoryStore {
    async fn create_session(&self, session: &NewSession) -> Result<SessionRecord> {
        let now = self.inner.clock.now();
        let record = session.record(now);
        let mut sessions = self.sessions();
        sessions.purge(now);
        sessions
            .by_user
            .entry(record.sub.clone())
            .or_default()
            .insert(record.sid.clone());
        sessions.families.insert(record.sid.clone(), record.clone());
        Ok(record)
    }

    async fn rotate_session(&self, rotation: &Rotation) -> Result<RotateOutcome> {
        let now = self.inner.clock.now();
        let mut sessions = self.sessions();
        let record = sessions.families.get(&rotation.sid).cloned();
        let key = EntryKey::new(&Namespace::Own, Scope::Session, &rotation.sid);
        let revoked = self.live(&key, now).is_some();
        let outcome = rotation.apply(record, revoked, now);
        match &outcome {
            RotateOutcome::Rotated(record) => {
                sessions.families.insert(record.sid.clone(), record.clone());
            }
            RotateOutcome::Reused(record) => {
                sessions.families.insert(record.sid.clone(), record.clone());
                self.store_entry(&record.revocation(now, self.inner.max_leeway), now);
            }
            RotateOutcome::Grace(_) | RotateOutcome::Unknown => {}
        }
        Ok(outcome)
    }

    async fn mark_undelivered(&self, sid: &str, generation: u64, undelivered: bool) -> Result<()> {
        if let Some(record) = self.sessions().families.get_mut(sid)
            && record.generation == generation
        {
            record.undelivered = undelivered.then_some(generation);
        }
        Ok(())
    }

    async fn session(&self, sid: &str) -> Result<Option<SessionRecord>> {
        let now = self.inner.clock.now();
        Ok(self
            .sessions()
            .families
            .get(sid)
            .filter(|r| r.expires_at > now)
            .cloned())
    }

    async fn user_sessions(&self, sub: &str) -> Result<Vec<SessionRecord>> {
        let now = self.inner.clock.now();
        let sessions = self.sessions();
        Ok(sessions
            .live_sids(sub, now)
            .iter()
            .filter_map(|sid| sessions.families.get(sid).cloned())
            .collect())
    }

    async fn end_session(&self, sid: &str, owner: Option<&str>) -> Result<Ended> {
        let now = self.inner.clock.now();
        let mut sessions = self.sessions();
        Ok(self.end_locked(&mut sessions, sid, owner, now))
    }

    async fn revoke_user(&self, revocation: &Revocation) -> Result<(Entry, Vec<SessionRecord>)> {
        check_user_revocation(revocation)?;
        let now = self.inner.clock.now();
        // One lock over the entry and the sessions: a login either comes before (and is ended)
        // or after (and is not covered).
        let mut sessions = self.sessions();
        let entry = self.store_entry(revocation, now);
        let mut ended = Vec::new();
        for sid in sessions.live_sids(&revocation.id, now) {
            if let Ended::Now(record) =
                self.end_locked(&mut sessions, &sid, Some(&revocation.id), now)
            {
                ended.push(record);
            }
        }
        Ok((entry, ended))
    }

    async fn end_user_sessions(&self, sub: &str, keep: Option<&str>) -> Result<Vec<SessionRecord>> {
        let now = self.inner.clock.now();
        let mut sessions = self.sessions();
        let mut ended = Vec::new();
        for sid in sessions.live_sids(sub, now) {
            if Some(sid.as_str()) == keep {
                continue;
            }
            if let Ended::Now(record) = self.end_locked(&mut sessions, &sid, Some(sub), now) {
                ended.push(record);
            }
        }
        Ok(ended)
    }

    async fn purge_sessions(&self) -> Result<u64> {
        Ok(self.sessions().purge(self.inner.clock.now()))
    }
}
