//! [`Gate::verify`]: the token pipeline, then one revocation check in the store.

use serde::de::DeserializeOwned;

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
    /// and `revoked_at`); `store_unavailable` when the store cannot be asked.
    pub async fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<Verified<C>> {
        let keyring = self.keyring()?;
        self.verify_with(token, keyring.key_set()).await
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
        let verified = token::verify::<C>(token, keys, self.options(), self.clock())?;
        let status = self
            .store()
            .check(&token_ref(&verified), self.clock().now())
            .await?;
        if let Status::Revoked { scope, revoked_at } = status {
            return Err(revoked_error(scope, revoked_at));
        }
        Ok(verified)
    }
}

/// The identifiers of a verified token, for the store.
pub fn token_ref<C>(verified: &Verified<C>) -> TokenRef<'_> {
    TokenRef {
        jti: &verified.claims.jti,
        sid: verified.claims.sid.as_deref(),
        sub: &verified.claims.sub,
        kid: verified.header.kid.as_deref().unwrap_or_default(),
        iat: verified.claims.iat,
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
