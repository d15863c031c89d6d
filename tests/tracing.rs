//! tollgate's spans as an application's `tracing` subscriber sees them (issue 16): a
//! `tollgate.verify` span with the algorithm, kid, cache use and result kind, a `tollgate.store`
//! span per round trip, a `tollgate.refresh` span with the session id's prefix and outcome;
//! never a token; nothing at all for a subscriber at `info`.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tollgate::{Algorithm, Clock, Gate, LoginRequest, Store};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use common::{TempKeyring, now};

/// Everything the subscriber writes, kept for the assertions.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Runs `work` on a current-thread runtime under a subscriber at `level`; returns its output.
fn traced(level: tracing::Level, work: impl AsyncFnOnce()) -> String {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work());
    captured.text()
}

#[test]
fn verify_store_and_refresh_spans_name_what_happened_and_never_a_token() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let kid = ring.kid();
    let dir = ring.keyring.dir().to_path_buf();
    let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let kept = tokens.clone();
    let out = traced(tracing::Level::DEBUG, async move || {
        let gate = Gate::new(Store::open("memory:").await.unwrap())
            .with_keyring(tollgate::Keyring::open(&dir).unwrap())
            .with_clock(Clock::fixed(now()));
        let pair = gate.login(&LoginRequest::new("alice")).await.unwrap();
        gate.verify::<Value>(&pair.access_token).await.unwrap();
        gate.verify::<Value>(&pair.access_token).await.unwrap();
        let next = gate.refresh(&pair.refresh_token).await.unwrap();
        gate.revoke_token(&next.access_token).await.unwrap();
        assert!(gate.verify::<Value>(&next.access_token).await.is_err());
        let mut kept = kept.lock().unwrap();
        kept.extend([
            pair.access_token,
            pair.refresh_token,
            next.access_token,
            next.refresh_token,
        ]);
    });
    for needle in [
        "tollgate.verify",
        "alg=\"EdDSA\"",
        &format!("kid=\"{kid}\""),
        "cached=false",
        "cached=true",
        "result=\"valid\"",
        "result=\"revoked\"",
        "tollgate.store",
        "backend=\"memory\"",
        "op=\"check\"",
        "tollgate.refresh",
        "result=\"rotated\"",
    ] {
        assert!(out.contains(needle), "missing {needle}:\n{out}");
    }
    for token in tokens.lock().unwrap().iter() {
        let tail = &token[token.len() - 16..];
        assert!(!out.contains(tail), "a token in the traces:\n{out}");
    }
}

#[test]
fn an_info_subscriber_sees_no_verification_spans() {
    let ring = TempKeyring::with_key(Algorithm::EdDSA);
    let dir = ring.keyring.dir().to_path_buf();
    let out = traced(tracing::Level::INFO, async move || {
        let gate = Gate::new(Store::open("memory:").await.unwrap())
            .with_keyring(tollgate::Keyring::open(&dir).unwrap())
            .with_clock(Clock::fixed(now()));
        let minted = gate.mint(&tollgate::MintOptions::new("alice")).unwrap();
        for _ in 0..3 {
            gate.verify::<Value>(&minted.token).await.unwrap();
        }
    });
    assert!(!out.contains("tollgate.verify"), "{out}");
    assert!(!out.contains("tollgate.store"), "{out}");
}
