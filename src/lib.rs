//! tollgate: sessions that verify like stateless JWTs and revoke like server sessions.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod clock;
pub mod error;
pub mod store;

pub use clock::{Clock, format_duration, format_time, parse_duration};
pub use error::{Class, Error, ErrorKind, Result};
pub use store::{RevocationStore, Store};
