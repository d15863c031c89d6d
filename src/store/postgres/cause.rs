//! Why a PostgreSQL operation failed, and the `StoreUnavailable` error it becomes: every
//! failure of the store is one (it fails closed), with a reason and a hint fitted to the cause.

use std::time::Duration;

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use super::HINT;
use crate::clock::format_duration;
use crate::error::{Error, ErrorKind};
use crate::store::unavailable;

/// Whether a failed transaction may simply be run again.
pub(super) fn is_transient(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// Why an operation failed, before it becomes a `StoreUnavailable` error.
#[derive(Debug)]
pub(crate) enum Cause {
    Pg(tokio_postgres::Error),
    Pool(PoolError),
    /// The store holds something this code cannot read.
    Data(String),
}

impl From<tokio_postgres::Error> for Cause {
    fn from(e: tokio_postgres::Error) -> Self {
        Cause::Pg(e)
    }
}

impl From<PoolError> for Cause {
    fn from(e: PoolError) -> Self {
        Cause::Pool(e)
    }
}

impl Cause {
    pub(super) fn into_error(self, url: &str, timeout: Duration) -> Error {
        match self {
            Cause::Pg(e) => pg_error(url, e),
            Cause::Pool(PoolError::Backend(e)) => pg_error(url, e),
            Cause::Pool(PoolError::Timeout(_)) => unavailable(
                url,
                format!("no connection within {}", format_millis(timeout)),
                HINT,
            ),
            Cause::Pool(e) => unavailable(url, &e, HINT).with_source(e),
            Cause::Data(why) => Error::new(
                ErrorKind::StoreUnavailable,
                format!(
                    "store {url} holds data this tollgate cannot read ({why}); upgrade tollgate"
                ),
            )
            .with_context("store", url.to_owned()),
        }
    }
}

/// A `StoreUnavailable` error naming the cause briefly (never a password: the URL is redacted
/// and the driver's messages carry none).
fn pg_error(url: &str, e: tokio_postgres::Error) -> Error {
    let Some(db) = e.as_db_error() else {
        let reason = if e.is_closed() {
            "connection closed".to_owned()
        } else {
            e.to_string()
        };
        return unavailable(url, reason, HINT).with_source(e);
    };
    let code = db.code().code();
    let hint = match code {
        c if c.starts_with("28") => "check the user name and password in the URL",
        "3D000" => "create the database or fix its name in the URL",
        "42501" => "grant the user CREATE and USAGE on the database's schema",
        c if c.starts_with("57P") || c.starts_with("08") || c.starts_with("53") => HINT,
        _ => "see the PostgreSQL server's log",
    };
    let reason = format!("{} [{code}]", db.message());
    Error::new(
        ErrorKind::StoreUnavailable,
        format!("store {url} answered but refused ({reason}); {hint}"),
    )
    .with_context("store", url.to_owned())
    .with_source(e)
}

pub(super) fn format_millis(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format_duration(d)
    } else {
        format!("{}ms", d.as_millis())
    }
}
