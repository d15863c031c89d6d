//! tollgate: sessions that verify like stateless JWTs and revoke like server sessions.
//!
//! Sessions are signed JWTs carrying user claims; a small denylist keyed by `jti` makes any
//! token, session, user or key revocable. This crate is the library under the `tollgate` CLI.
//!
//! # Quickstart
//!
//! ```
//! use tollgate::{mint, verify, Algorithm, Clock, ErrorKind, Keyring, MintOptions, VerifyOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let clock = Clock::fixed(1_800_000_000);
//!
//! // A keyring with one Ed25519 key (files 0600 in a 0700 directory).
//! let mut keyring = Keyring::init(dir.path().join("keys"))?;
//! keyring.generate(Algorithm::EdDSA, None, &clock)?;
//!
//! // Mint a 15-minute access token with an application claim.
//! let minted = mint(&keyring, &MintOptions::new("alice").with_claim("role", "admin")?, &clock)?;
//!
//! // Verify it: signature, type, time (with the injected clock), issuer, audience.
//! let options = VerifyOptions::new();
//! let verified = verify::<serde_json::Value>(&minted.token, keyring.key_set(), &options, &clock)?;
//! assert_eq!(verified.claims.extra["role"], "admin");
//!
//! // Twenty minutes later it has expired.
//! let later = Clock::fixed(1_800_000_000 + 20 * 60);
//! let err = verify::<serde_json::Value>(&minted.token, keyring.key_set(), &options, &later).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Expired);
//! # Ok::<(), tollgate::Error>(())
//! ```
//!
//! # Modules
//!
//! | module | owns |
//! | --- | --- |
//! | [`error`] | [`Error`], [`ErrorKind`] (the stable kind strings), [`Class`] (exit codes, HTTP statuses) |
//! | [`clock`] | [`Clock`] (system or fixed), duration parsing |
//! | [`alg`] | the [`Algorithm`] allow-list |
//! | [`claims`] | [`Claims`], [`MintOptions`] |
//! | [`keys`] | [`Keyring`]: generate, rotate, retire, prune, import, export, JWKS; (feature `remote`) `RemoteJwks`, a remote issuer's JWK Set |
//! | [`validate`] | [`VerifyOptions`] and the claim policy |
//! | [`token`] | [`mint`] and [`verify`] |
//! | [`dangerous`] | decoding without verification, for `inspect` |
//! | [`store`] | revocation and session stores: memory, SQLite, PostgreSQL, Redis, Redis Cluster; the local replica; the store clock and key layout |
//! | [`gate`] | [`Gate`]: keyring + store + clock: verify with revocation, revoke |
//! | [`session`] | login, refresh rotation with reuse detection, logout, logout-all, session list |
//! | `axum` | (feature `axum`) the `Authenticated<C>` extractor, the `require` layer, cookies, CSRF |
//! | `server` | (feature `server`) the HTTP service of `tollgate serve`: JWKS, introspection, revocation, session endpoints, health, metrics, the demo page |
//!
//! # Features
//!
//! | feature | default | adds |
//! | --- | --- | --- |
//! | `sqlite` | yes | the embedded SQLite store (`sqlite:PATH`) |
//! | `redis` | yes | the Redis and Redis Cluster store (`redis://`, `rediss://`, `redis+cluster://`) |
//! | `postgres` | no | the PostgreSQL store (`postgres://`, `postgresql://`), TLS through rustls |
//! | `axum` | no | `tollgate::axum`: extractor, layer, cookies, CSRF (axum 0.8, tower-http's `CsrfLayer`) |
//! | `server` | no | `tollgate::server`: the router and `serve` behind `tollgate serve` (implies `axum`) |
//! | `remote` | no | `keys::RemoteJwks`: another issuer's JWK Set fetched over HTTPS (hyper, rustls with aws-lc-rs) and cached |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod alg;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
pub mod claims;
pub mod clock;
pub mod dangerous;
pub mod error;
pub mod gate;
mod json;
pub mod keys;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
pub mod session;
pub mod store;
pub mod token;
pub mod validate;

pub use alg::{Algorithm, Family};
pub use claims::{Claims, MintOptions};
pub use clock::{Clock, format_duration, format_time, parse_duration};
pub use error::{Class, Error, ErrorKind, Result};
pub use gate::{Gate, Revoked};
pub use keys::{ExportFormat, KeyEntry, KeySet, KeyState, Keyring};
pub use session::{LoginRequest, SessionConfig, SessionInfo, TokenPair};
pub use store::{Device, RevocationStore, SessionStore, Store};
pub use token::{Header, Minted, Verified, mint, verify};
pub use validate::VerifyOptions;
