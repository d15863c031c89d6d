//! The one-time upgrade from key layout version 1 (ids in clear) to version 2 (digests).

use super::RedisStore;
use super::layout::{parse_v1_key, parse_v1_value};
use crate::clock::Clock;
use crate::error::Result;
use crate::store::Revocation;
use crate::store::url::V1_DEFAULT_PREFIX;

impl RedisStore {
    /// Copies every live version-1 entry into the version-2 layout with its remaining time, the
    /// first time a version-2 store opens this Redis; a marker in the settings hash makes it
    /// once. Copying is a merge, so two processes upgrading at once do no harm.
    pub(super) async fn upgrade_v1(&self) -> Result<()> {
        let meta = self.meta_key();
        let done: Option<String> = self.query(redis::cmd("HGET").arg(&meta).arg("v1")).await?;
        if done.is_some() {
            return Ok(());
        }
        // Version 1 used `tg:v1:` when no prefix was given, else the prefix as given (an
        // explicit `?prefix=tg:` included).
        let prefix = if self.inner.parsed.prefix_given {
            self.inner.parsed.prefix.clone()
        } else {
            V1_DEFAULT_PREFIX.to_owned()
        };
        let pattern = format!("{prefix}*");
        let scanned = self
            .scan_values(&pattern, |k| parse_v1_key(&prefix, k).is_some())
            .await?;
        let now = Clock::System.now();
        let mut copied = 0u64;
        for (name, value, pttl) in scanned {
            let (Some((scope, id)), Some(value)) = (parse_v1_key(&prefix, &name), value) else {
                continue;
            };
            let Some((revoked_at, _)) = parse_v1_value(&value) else {
                continue;
            };
            let expires_at = match pttl {
                -2 => continue,
                -1 => i64::MAX,
                ms => now.saturating_add((ms + 999) / 1000),
            };
            let revocation = Revocation::new(scope, id, revoked_at, expires_at);
            if revocation.validate().is_ok() {
                // Its stamp is its revocation time, the only time version 1 recorded: a
                // session created after it is not covered by it.
                self.store_entry(&revocation, Some(revoked_at)).await?;
                // The old key held the id in clear: gone once copied.
                let _: i64 = self.query(redis::cmd("DEL").arg(&name)).await?;
                copied += 1;
            }
        }
        let _: i64 = self
            .query(redis::cmd("HSET").arg(&meta).arg("v1").arg(now))
            .await?;
        if copied > 0 {
            tracing::info!(copied, "upgraded the Redis store to key layout v2");
        }
        Ok(())
    }
}
