//! What a JWK says it may be used for: `use` (RFC 7517 §4.2), `key_ops` (§4.3) and `alg` (§4.4).
//!
//! A key without these members is unrestricted. With them, a key verifies only when `use` is
//! `sig` and `key_ops` lists `verify`, signs only when `use` is `sig` and `key_ops` lists `sign`,
//! and only with its `alg`. The same rules hold on every path a key enters by.

use crate::alg::Algorithm;
use crate::error::{Error, Result, quoted};
use crate::keys::jwks::Jwk;

/// An operation a key is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// Verify signatures (`key_ops` `verify`).
    Verify,
    /// Make signatures (`key_ops` `sign`).
    Sign,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Verify => "verify",
            Operation::Sign => "sign",
        }
    }
}

/// The restrictions a key carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<Algorithm>,
}

impl Usage {
    /// No restriction (PEM and DER keys, raw secrets).
    pub(crate) fn any() -> Usage {
        Usage::default()
    }

    /// The restrictions of a JWK.
    ///
    /// # Errors
    ///
    /// `bad_key` when `alg` names an algorithm outside tollgate's allow-list (such a key can
    /// verify nothing here).
    pub(crate) fn of_jwk(jwk: &Jwk) -> Result<Usage> {
        Ok(Usage {
            use_: jwk.use_.clone(),
            key_ops: jwk.key_ops.clone(),
            alg: jwk.algorithm()?,
        })
    }

    /// The algorithm the key is restricted to, if any.
    pub(crate) fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Refuses an operation the key does not allow.
    ///
    /// # Errors
    ///
    /// `bad_key` naming the member that forbids it and the fix.
    pub(crate) fn allow(&self, op: Operation) -> Result<()> {
        if let Some(use_) = self.use_.as_deref().filter(|u| *u != "sig") {
            return Err(Error::bad_key(format!(
                "the key's \"use\" is {}, not \"sig\", so it may not {} signatures; use a signature key",
                quoted(use_),
                op.as_str()
            )));
        }
        if let Some(ops) = &self.key_ops
            && !ops.iter().any(|o| o == op.as_str())
        {
            return Err(Error::bad_key(format!(
                "the key's \"key_ops\" [{}] do not include {}; add it or use another key",
                ops.iter().map(|o| quoted(o)).collect::<Vec<_>>().join(", "),
                quoted(op.as_str())
            )));
        }
        Ok(())
    }

    /// Refuses a key whose `alg` names another algorithm than the one it is used with.
    ///
    /// # Errors
    ///
    /// `bad_key` naming both.
    pub(crate) fn require_alg(&self, alg: Algorithm) -> Result<()> {
        match self.alg {
            Some(named) if named != alg => Err(Error::bad_key(format!(
                "the key's \"alg\" is {named}, but it is listed for {alg}; a key is used only \
                 with its own alg"
            ))),
            _ => Ok(()),
        }
    }

    /// `algs` narrowed to the key's `alg`, if it names one.
    pub(crate) fn narrow(&self, algs: Vec<Algorithm>) -> Vec<Algorithm> {
        match self.alg {
            Some(alg) => algs.into_iter().filter(|a| *a == alg).collect(),
            None => algs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(json: &str) -> Usage {
        Usage::of_jwk(&serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn a_key_without_members_may_do_anything() {
        let any = usage(r#"{"kty":"OKP"}"#);
        any.allow(Operation::Verify).unwrap();
        any.allow(Operation::Sign).unwrap();
        assert_eq!(any.narrow(Algorithm::ALL.to_vec()).len(), 12);
    }

    #[test]
    fn use_other_than_sig_refuses_both_operations() {
        for json in [
            r#"{"kty":"RSA","use":"enc"}"#,
            r#"{"kty":"RSA","use":"other"}"#,
        ] {
            let u = usage(json);
            assert!(u.allow(Operation::Verify).is_err(), "{json}");
            assert!(u.allow(Operation::Sign).is_err(), "{json}");
        }
        usage(r#"{"kty":"RSA","use":"sig"}"#)
            .allow(Operation::Verify)
            .unwrap();
    }

    #[test]
    fn key_ops_must_list_the_operation() {
        let verify_only = usage(r#"{"kty":"EC","key_ops":["verify"]}"#);
        verify_only.allow(Operation::Verify).unwrap();
        let e = verify_only.allow(Operation::Sign).unwrap_err();
        assert!(e.message().contains("\"sign\""), "{}", e.message());
        let sign_only = usage(r#"{"kty":"EC","key_ops":["sign"]}"#);
        assert!(sign_only.allow(Operation::Verify).is_err());
        assert!(
            usage(r#"{"kty":"EC","key_ops":[]}"#)
                .allow(Operation::Verify)
                .is_err()
        );
    }

    #[test]
    fn alg_narrows_to_itself_and_an_unknown_alg_is_refused() {
        let u = usage(r#"{"kty":"oct","alg":"HS384"}"#);
        assert_eq!(u.narrow(Algorithm::ALL.to_vec()), vec![Algorithm::HS384]);
        let jwk: Jwk = serde_json::from_str(r#"{"kty":"RSA","alg":"RSA-OAEP"}"#).unwrap();
        assert!(Usage::of_jwk(&jwk).is_err());
    }
}
