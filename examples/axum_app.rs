//! A protected axum route in about ten lines, with an unprotected twin for benchmarking.
//!
//!     tollgate keys generate                           # a keyring in ./keys
//!     cargo run --release --example axum_app --features axum -- 127.0.0.1:3000
//!     curl -H "Authorization: Bearer $(tollgate mint --sub alice)" http://127.0.0.1:3000/me
//!
//! `GET /me` needs a valid access token (bearer header or access cookie); `GET /hello` answers
//! the same text without tollgate. `TOLLGATE_KEYS` and `TOLLGATE_STORE` choose the keyring and
//! the store (defaults `./keys` and `memory:`; use `sqlite:./tollgate.db` to see CLI
//! revocations).

use std::sync::Arc;

use axum::{Router, routing::get};
use tollgate::axum::Authenticated;
use tollgate::{Gate, Keyring, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let gate = Gate::new(Store::open(&env("TOLLGATE_STORE", "memory:")).await?)
        .with_keyring(Keyring::open(env("TOLLGATE_KEYS", "./keys"))?);
    let app = Router::new()
        .route(
            "/me",
            get(|user: Authenticated| async move { format!("hello {}\n", user.sub()) }),
        )
        .route("/hello", get(|| async { "hello alice\n" }))
        .with_state(Arc::new(gate));
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
