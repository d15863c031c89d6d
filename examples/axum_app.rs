//! A protected axum route in about ten lines, with an unprotected twin for benchmarking.
//!
//!     tollgate keys generate                           # a keyring in ./keys
//!     cargo run --release --example axum_app --features axum -- 127.0.0.1:3000
//!     curl -H "Authorization: Bearer $(tollgate mint --sub alice)" http://127.0.0.1:3000/me
//!
//! `GET /me` needs a valid access token (bearer header or access cookie); `GET /hello` answers
//! the same text without tollgate. `TOLLGATE_KEYS` and `TOLLGATE_STORE` choose the keyring and
//! the store: by default the CLI's own (`./keys` and `sqlite:./tollgate.db`), so `tollgate
//! revoke` and `tollgate keys rotate` reach the running app (the gate follows the keyring by
//! itself). `TOLLGATE_AUDIENCE` names the audience its tokens must carry (`mint --aud`).

use std::sync::Arc;

use axum::{Router, routing::get};
use tollgate::axum::Authenticated;
use tollgate::{Gate, Keyring, Store, VerifyOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let mut options = VerifyOptions::new();
    if let Ok(aud) = std::env::var("TOLLGATE_AUDIENCE") {
        options = options.with_audience(aud);
    }
    let gate = Gate::new(Store::open(&env("TOLLGATE_STORE", "sqlite:./tollgate.db")).await?)
        .with_keyring(Keyring::open(env("TOLLGATE_KEYS", "./keys"))?)
        .with_options(options);
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
