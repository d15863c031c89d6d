//! [`Scope`]: what a revocation covers, from one token to everything.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result, quoted};

/// The five revocation scopes, from the most specific to the broadest.
///
/// # Examples
///
/// ```
/// use tollgate::store::Scope;
/// assert_eq!(Scope::Session.as_str(), "session");
/// assert_eq!("user".parse::<Scope>().unwrap(), Scope::User);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// One token, by its `jti`.
    Token,
    /// Every token of one session, by `sid`.
    Session,
    /// Every token of one user (`sub`) issued at or before the revocation time.
    User,
    /// Every token signed by one key, by `kid`.
    Key,
    /// Every token issued at or before the revocation time.
    Global,
}

impl Scope {
    /// Every scope, from the most specific to the broadest (the order [`Status`](super::Status) reports in).
    pub const ALL: [Scope; 5] = [
        Scope::Token,
        Scope::Session,
        Scope::User,
        Scope::Key,
        Scope::Global,
    ];

    /// The stable name: `token`, `session`, `user`, `key` or `global`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Token => "token",
            Scope::Session => "session",
            Scope::User => "user",
            Scope::Key => "key",
            Scope::Global => "global",
        }
    }

    /// Whether the scope revokes only tokens issued at or before its `revoked_at` (user and
    /// global), rather than everything that matches.
    pub fn is_time_bound(self) -> bool {
        matches!(self, Scope::User | Scope::Global)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The one-letter form used in store keys and change messages: `t`, `s`, `u`, `k`, `g`.
    pub fn letter(self) -> u8 {
        match self {
            Scope::Token => b't',
            Scope::Session => b's',
            Scope::User => b'u',
            Scope::Key => b'k',
            Scope::Global => b'g',
        }
    }

    /// The scope of a [`letter`](Self::letter).
    pub fn from_letter(letter: u8) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.letter() == letter)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;

    /// Parses a scope name.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) naming the value and the accepted names.
    fn from_str(s: &str) -> Result<Scope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                Error::usage(format!(
                    "unknown revocation scope {}; use token, session, user, key or global",
                    quoted(s)
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn scope_strings_are_stable() {
        let names: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["token", "session", "user", "key", "global"]);
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
        }
        let err = "jti".parse::<Scope>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
    }
}
