//! One file per subcommand: a clap `Args` struct and `run`, which converts the arguments to
//! library types, calls the library, and returns data for `output.rs`.

pub(crate) mod clients;
pub(crate) mod inspect;
pub(crate) mod keys;
pub(crate) mod lifetimes;
pub(crate) mod mint;
pub(crate) mod revoke;
pub(crate) mod serve;
pub(crate) mod session;
pub(crate) mod store;
pub(crate) mod verify;
