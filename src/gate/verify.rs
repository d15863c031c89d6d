//! [`Gate::verify`]: the token pipeline, then one revocation check in the store.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tracing::Instrument;

use super::Gate;
use crate::clock::format_time;
use crate::error::{Error, ErrorKind, Result};
use crate::keys::KeySet;
use crate::store::{RevocationStore, Scope, Status, TokenRef};
use crate::token::{self, Verified};

impl<S: RevocationStore> Gate<S> {
    /// Verifies an access token with the keyring, then checks the store.
    ///
    /// # Errors
    ///
    /// Every kind of [`token::verify`]; `revoked` (with context `scope`
    /// and `revoked_at`); `store_unavailable` when the store cannot be asked; `usage` when the
    /// options' leeway is above the store's maximum leeway.
    ///
    /// A token verified before with the same keyring generation is answered from the
    /// verified-token cache ([`CacheConfig`](super::CacheConfig)): no parsing, no signature,
    /// but `exp` and the revocation check every time.
    pub async fn verify<C: DeserializeOwned + 'static>(&self, token: &str) -> Result<Verified<C>> {
        // A span for the user's traces: algorithm, kid, whether the cache answered and the
        // result kind; never the token. At debug level, so an `info` subscriber stays quiet.
        let span = tracing::debug_span!(
            "tollgate.verify",
            alg = tracing::field::Empty,
            kid = tracing::field::Empty,
            cached = tracing::field::Empty,
            result = tracing::field::Empty,
        );
        let result = self
            .verify_cached::<C>(token, &span)
            .instrument(span.clone())
            .await;
        if !span.is_disabled() {
            match &result {
                Ok(v) => {
                    span.record("alg", v.header.alg.as_str());
                    span.record("kid", v.header.kid.as_deref().unwrap_or_default());
                    span.record("result", "valid");
                }
                Err(e) => {
                    span.record("result", e.kind().as_str());
                }
            }
        }
        result
    }

    async fn verify_cached<C: DeserializeOwned + 'static>(
        &self,
        token: &str,
        span: &tracing::Span,
    ) -> Result<Verified<C>> {
        let (keyring, mut generation) = self.keyring_generation()?;
        #[cfg(feature = "remote")]
        if let Some(keys) = self.remote_keys(token, keyring.key_set()).await? {
            return self.verify_with(token, &keys).await;
        }
        // A kid the keyring lacks may be one rotated in by another process a moment ago: on
        // `unknown_kid` (never on the hot path) reload, at most once per the follow cooldown,
        // and verify again.
        let Some(key) = self.cache.key(token) else {
            return match self.verify_with(token, keyring.key_set()).await {
                Err(e) if e.kind() == ErrorKind::UnknownKid && self.reload_for_unknown_kid() => {
                    let (keyring, _) = self.keyring_generation()?;
                    self.verify_with(token, keyring.key_set()).await
                }
                other => other,
            };
        };
        self.check_leeway()?;
        let now = self.clock().now();
        let hit = self.cache.get(&key, generation, now);
        span.record("cached", hit.is_some());
        if let Some(hit) = hit {
            self.check_revocation(token_ref(&hit.verified), now).await?;
            return token::with_claims_as(hit.verified.clone());
        }
        let options = (self.options(), self.clock());
        let first =
            token::verify::<Map<String, Value>>(token, keyring.key_set(), options.0, options.1);
        let verified = match first {
            Err(e) if e.kind() == ErrorKind::UnknownKid && self.reload_for_unknown_kid() => {
                let (reloaded, reloaded_generation) = self.keyring_generation()?;
                generation = reloaded_generation;
                token::verify::<Map<String, Value>>(
                    token,
                    reloaded.key_set(),
                    options.0,
                    options.1,
                )?
            }
            other => other?,
        };
        self.check_revocation(token_ref(&verified), now).await?;
        self.cache.insert(
            key,
            generation,
            now,
            self.options().leeway_secs(),
            token.len(),
            &verified,
        );
        token::with_claims_as(verified)
    }

    /// The revocation check of a verified token: `revoked` when an entry covers it.
    async fn check_revocation(&self, token: TokenRef<'_>, now: i64) -> Result<()> {
        if let Status::Revoked { scope, revoked_at } = self.store().check(&token, now).await? {
            return Err(revoked_error(scope, revoked_at));
        }
        Ok(())
    }

    /// The keys of the trusted issuer whose JWK Set holds the token's `kid`, when the keyring
    /// does not: `None` for a token of the keyring (or of no one: the keyring then says
    /// `unknown_kid`). A set that cannot be fetched fails the verification closed
    /// (`jwks_unavailable`) unless another issuer's set holds the kid.
    #[cfg(feature = "remote")]
    async fn remote_keys(
        &self,
        token: &str,
        own: &KeySet,
    ) -> Result<Option<std::sync::Arc<KeySet>>> {
        if self.remote_issuers().is_empty() {
            return Ok(None);
        }
        let kid = token::header_kid(token)?;
        if kid.as_deref().is_some_and(|kid| own.get(kid).is_some()) {
            return Ok(None);
        }
        let mut failure = None;
        for issuer in self.remote_issuers() {
            match issuer.key_set_for(kid.as_deref()).await {
                Ok(keys) => {
                    let holds = match kid.as_deref() {
                        Some(kid) => keys.get(kid).is_some(),
                        None => !keys.is_empty(),
                    };
                    if holds {
                        if self.options().audiences().is_empty() {
                            return Err(Error::usage(format!(
                                "tokens of issuer {} need an audience configured (--aud, \
                                 --audience or TOLLGATE_AUDIENCE): without one, the issuer's \
                                 ID tokens and other services' tokens would pass",
                                issuer.issuer().unwrap_or_default()
                            )));
                        }
                        return Ok(Some(keys));
                    }
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// Like [`Gate::verify`], against explicit keys instead of the keyring.
    ///
    /// # Errors
    ///
    /// As [`Gate::verify`].
    pub async fn verify_with<C: DeserializeOwned>(
        &self,
        token: &str,
        keys: &KeySet,
    ) -> Result<Verified<C>> {
        self.check_leeway()?;
        let verified = token::verify::<C>(token, keys, self.options(), self.clock())?;
        self.check_revocation(token_ref(&verified), self.clock().now())
            .await?;
        Ok(verified)
    }
}

/// The namespace, identifiers and times of a verified token, for the store. A claim the token
/// lacks (another issuer's token may have no `jti` or `sub`) is the empty id, which no entry
/// ever has (revoking an empty id is refused): only the scopes it does carry can match.
pub fn token_ref<C>(verified: &Verified<C>) -> TokenRef<'_> {
    TokenRef {
        namespace: &verified.namespace,
        jti: verified.claims.jti.as_deref().unwrap_or_default(),
        sid: verified.claims.sid.as_deref(),
        sub: verified.claims.sub.as_deref().unwrap_or_default(),
        kid: verified.header.kid.as_deref().unwrap_or_default(),
        iat: verified.claims.iat,
        auth_time: verified.claims.auth_time,
    }
}

/// The `revoked` error for a token that a live entry of `scope` covers.
pub(crate) fn revoked_error(scope: Scope, revoked_at: i64) -> Error {
    let what = match scope {
        Scope::Token => "the token was revoked",
        Scope::Session => "its session was revoked",
        Scope::User => "every token of its user issued before then was revoked",
        Scope::Key => "every token signed by its key was revoked",
        Scope::Global => "every token issued before then was revoked",
    };
    Error::new(
        ErrorKind::Revoked,
        format!(
            "token revoked: {what} at {}; log in again",
            format_time(revoked_at)
        ),
    )
    .with_context("scope", scope.as_str())
    .with_context("revoked_at", revoked_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_errors_name_their_scope() {
        let e = revoked_error(Scope::Session, 0);
        assert_eq!(e.kind(), ErrorKind::Revoked);
        assert_eq!(e.to_json()["scope"], "session");
    }
}
