//! Sessions in the memory store: a map of records and a per-user index behind one mutex, which
//! makes every rotation (and the session revocation it may write) one atomic step.

use std::collections::{BTreeSet, HashMap};

use super::MemoryStore;
use crate::error::Result;
use crate::store::{Revocation, Scope};
use crate::store::{RotateOutcome, Rotation, SessionRecord, SessionStore};

/// Session records by sid, and the sids of each user.
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
}

impl MemoryStore {
    fn session_revoked(&self, sid: &str, now: i64) -> bool {
        self.read().maps[Scope::Session.index()]
            .get(sid)
            .is_some_and(|&(_, expires_at)| expires_at > now)
    }

    /// Ends one record under the sessions lock; returns it if it was live.
    fn end_locked(
        &self,
        sessions: &mut Sessions,
        sid: &str,
        sub: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Option<SessionRecord> {
        let record = sessions.families.get_mut(sid)?;
        if sub.is_some_and(|sub| sub != record.sub) {
            return None;
        }
        let was_live = record.is_live(now);
        if was_live {
            record.ended_at = Some(now);
        }
        let ended = record.clone();
        self.store_entry(
            &Revocation::new(Scope::Session, sid, now, revocation_expires_at),
            now,
        );
        was_live.then_some(ended)
    }
}

impl SessionStore for MemoryStore {
    async fn create_session(&self, record: &SessionRecord, now: i64) -> Result<()> {
        let mut sessions = self.sessions();
        sessions.purge(now);
        sessions
            .by_user
            .entry(record.sub.clone())
            .or_default()
            .insert(record.sid.clone());
        sessions.families.insert(record.sid.clone(), record.clone());
        Ok(())
    }

    async fn rotate_session(&self, rotation: &Rotation, now: i64) -> Result<RotateOutcome> {
        let mut sessions = self.sessions();
        let record = sessions.families.get(&rotation.sid).cloned();
        let revoked = self.session_revoked(&rotation.sid, now);
        let outcome = rotation.apply(record, revoked, now);
        match &outcome {
            RotateOutcome::Rotated(record) => {
                sessions.families.insert(record.sid.clone(), record.clone());
            }
            RotateOutcome::Reused(record) => {
                sessions.families.insert(record.sid.clone(), record.clone());
                let entry = Revocation::new(
                    Scope::Session,
                    record.sid.as_str(),
                    now,
                    rotation.revocation_expires_at,
                );
                self.store_entry(&entry, now);
            }
            RotateOutcome::Grace(_) | RotateOutcome::Unknown => {}
        }
        Ok(outcome)
    }

    async fn session(&self, sid: &str, now: i64) -> Result<Option<SessionRecord>> {
        Ok(self
            .sessions()
            .families
            .get(sid)
            .filter(|r| r.expires_at > now)
            .cloned())
    }

    async fn user_sessions(&self, sub: &str, now: i64) -> Result<Vec<SessionRecord>> {
        let sessions = self.sessions();
        let Some(sids) = sessions.by_user.get(sub) else {
            return Ok(Vec::new());
        };
        Ok(sids
            .iter()
            .filter_map(|sid| sessions.families.get(sid))
            .filter(|r| r.is_live(now))
            .cloned()
            .collect())
    }

    async fn end_session(
        &self,
        sid: &str,
        sub: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Result<Option<SessionRecord>> {
        let mut sessions = self.sessions();
        Ok(self.end_locked(&mut sessions, sid, sub, revocation_expires_at, now))
    }

    async fn end_user_sessions(
        &self,
        sub: &str,
        keep: Option<&str>,
        revocation_expires_at: i64,
        now: i64,
    ) -> Result<u64> {
        let mut sessions = self.sessions();
        let sids: Vec<String> = sessions
            .by_user
            .get(sub)
            .into_iter()
            .flatten()
            .filter(|sid| Some(sid.as_str()) != keep)
            .filter(|sid| sessions.families.get(*sid).is_some_and(|r| r.is_live(now)))
            .cloned()
            .collect();
        let mut ended = 0;
        for sid in &sids {
            if self
                .end_locked(&mut sessions, sid, Some(sub), revocation_expires_at, now)
                .is_some()
            {
                ended += 1;
            }
        }
        Ok(ended)
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        Ok(self.sessions().purge(now))
    }
}
