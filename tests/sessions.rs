//! Sessions, one suite run against every backend of `common::backends` (memory, SQLite, Redis,
//! Redis Cluster, and the replica over SQLite and over Redis). Login, refresh rotation, the grace
//! window, reuse detection (theft), logout, logout-all, the session list, ending other sessions,
//! expiry on the store's clock, what the raw store holds, and what each revocation scope means
//! for sessions (issue 8).
//!
//! Time: `b.at(t)` is a gate whose clock reads `t`; stores whose clock the test controls
//! (memory, SQLite) move to `t` too. Redis keeps its server's clock: the cases that need the
//! store's time to pass check TTLs there, or wait for a short real window.

#[macro_use]
mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::backends::Backend;
use common::{TempKeyring, unique};
use serde_json::Value;
use tollgate::session::{LoginRequest, SessionConfig};
use tollgate::store::{Device, EntryKey, Scope, SessionStore};
use tollgate::{Algorithm, Clock, ErrorKind, Gate, Keyring, Revoked, TokenPair};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn kind<T: std::fmt::Debug>(result: tollgate::Result<T>) -> ErrorKind {
    result.expect_err("expected an error").kind()
}

/// The scope of a `revoked` error.
fn revoked_scope<T: std::fmt::Debug>(result: tollgate::Result<T>) -> String {
    let err = result.expect_err("expected a revocation");
    assert_eq!(err.kind(), ErrorKind::Revoked, "{err:?}");
    err.to_json()["scope"].as_str().unwrap().to_owned()
}

/// The parts of a refresh token: `(sid, generation, secret)`.
fn parts(refresh_token: &str) -> (String, u64, Vec<u8>) {
    let mut it = refresh_token.split('.');
    assert_eq!(it.next(), Some("tgr1"));
    let sid = it.next().unwrap().to_owned();
    let generation = it.next().unwrap().parse().unwrap();
    let secret = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    (sid, generation, secret)
}

async fn verify<S: tollgate::RevocationStore>(
    gate: &Gate<S>,
    token: &str,
) -> tollgate::Result<tollgate::Verified<serde_json::Map<String, Value>>> {
    gate.verify(token).await
}

/// The suite, one function per case.
mod suite {
    use super::*;

    pub(crate) async fn login_refresh_and_logout<S: SessionStore>(b: &Backend<S>) {
        let t = b.t0;
        let gate = b.at(t);
        let login = gate
            .login(
                &LoginRequest::new("alice")
                    .with_claim("role", "admin")
                    .unwrap()
                    .with_device(Device::new(
                        Some("curl/8".into()),
                        Some("203.0.113.7".into()),
                    )),
            )
            .await
            .unwrap();
        assert_eq!(login.token_type, "Bearer");
        assert_eq!(login.expires_in, 15 * 60);
        assert_eq!(
            login.refresh_expires_in,
            12 * HOUR,
            "no remember-me: 12 hours"
        );
        assert!(!login.remember_me);
        let (sid, generation, secret) = parts(&login.refresh_token);
        assert_eq!(
            (sid.as_str(), generation, secret.len()),
            (login.session_id.as_str(), 1, 32)
        );

        let claims = verify(&gate, &login.access_token).await.unwrap().claims;
        assert_eq!(claims.sub.as_deref(), Some("alice"));
        assert_eq!(claims.sid.as_deref(), Some(sid.as_str()));
        assert_eq!(claims.extra["role"], "admin");
        assert_eq!(claims.exp, t + 15 * 60);
        let created = claims.auth_time.expect("a session token carries auth_time");

        let later = b.at(t + 600);
        let second = later.refresh(&login.refresh_token).await.unwrap();
        assert_eq!(second.session_id, sid);
        assert_eq!(parts(&second.refresh_token).1, 2);
        assert_ne!(second.access_token, login.access_token);
        if b.manual() {
            assert_eq!(second.refresh_expires_in, 12 * HOUR - 600, "not sliding");
        }
        let claims = verify(&later, &second.access_token).await.unwrap().claims;
        assert_eq!(
            (claims.iat, claims.extra["role"].as_str()),
            (Some(t + 600), Some("admin"))
        );
        assert_eq!(claims.auth_time, Some(created), "the session's creation");
        // A normal rotation does not revoke the previous access token.
        verify(&later, &login.access_token).await.unwrap();

        let info = later.sessions("alice").await.unwrap();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].sid, sid);
        assert_eq!(info[0].generation, 2);
        if b.manual() {
            assert_eq!((info[0].last_used, info[0].created), (t + 600, t));
        }
        assert_eq!(info[0].device.user_agent.as_deref(), Some("curl/8"));

        // Logout with the access token: the session ends, its access tokens die.
        later.logout(&second.access_token).await.unwrap();
        assert_eq!(
            revoked_scope(verify(&later, &second.access_token).await),
            "session"
        );
        assert_eq!(
            revoked_scope(verify(&later, &login.access_token).await),
            "session"
        );
        assert_eq!(
            kind(later.refresh(&second.refresh_token).await),
            ErrorKind::UnknownSession
        );
        assert_eq!(
            kind(later.logout(&second.refresh_token).await),
            ErrorKind::UnknownSession
        );
        assert!(later.sessions("alice").await.unwrap().is_empty());
    }

    pub(crate) async fn logout_with_a_refresh_token<S: SessionStore>(b: &Backend<S>) {
        let gate = b.at(b.t0);
        let pair = gate.login(&LoginRequest::new(unique("u"))).await.unwrap();
        let other = gate.login(&LoginRequest::new("bystander")).await.unwrap();
        gate.logout(&pair.refresh_token).await.unwrap();
        assert_eq!(
            revoked_scope(verify(&gate, &pair.access_token).await),
            "session"
        );
        assert_eq!(
            kind(gate.refresh(&pair.refresh_token).await),
            ErrorKind::UnknownSession
        );
        verify(&gate, &other.access_token).await.unwrap();
        gate.refresh(&other.refresh_token).await.unwrap();
    }

    pub(crate) async fn tokens_are_not_interchangeable<S: SessionStore>(b: &Backend<S>) {
        let gate = b.at(b.t0);
        let pair = gate.login(&LoginRequest::new("alice")).await.unwrap();
        assert_eq!(
            kind(verify(&gate, &pair.refresh_token).await),
            ErrorKind::WrongTokenType
        );
        assert_eq!(
            kind(gate.refresh(&pair.access_token).await),
            ErrorKind::WrongTokenType
        );
        assert_eq!(
            kind(gate.refresh("not a token").await),
            ErrorKind::Malformed
        );
        let (_, _, secret) = parts(&pair.refresh_token);
        let stranger = format!(
            "tgr1.{}.1.{}",
            uuid::Uuid::new_v4(),
            URL_SAFE_NO_PAD.encode(&secret)
        );
        assert_eq!(
            kind(gate.refresh(&stranger).await),
            ErrorKind::UnknownSession
        );
        // Neither did anything: the real pair still works.
        verify(&gate, &pair.access_token).await.unwrap();
        let next = gate.refresh(&pair.refresh_token).await.unwrap();
        // Revoking a refresh token (RFC 7009 §2.1) is not verifying it as an access token: it
        // ends its session, whose access tokens die with it.
        match gate.revoke_token(&next.refresh_token).await.unwrap() {
            Revoked::SessionEnded { sid } => assert_eq!(sid, next.session_id),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            kind(verify(&gate, &next.access_token).await),
            ErrorKind::Revoked
        );
        assert_eq!(
            kind(gate.refresh(&next.refresh_token).await),
            ErrorKind::UnknownSession
        );
    }

    pub(crate) async fn theft_revokes_the_whole_session<S: SessionStore>(b: &Backend<S>) {
        let t = b.t0;
        let sub = unique("victim");
        let login = b
            .at(t)
            .login(&LoginRequest::new(&sub).with_remember_me(true))
            .await
            .unwrap();
        let other_device = b.at(t).login(&LoginRequest::new(&sub)).await.unwrap();
        // The user refreshes twice; an attacker kept the first refresh token.
        let no_grace = SessionConfig::new().with_grace(Duration::ZERO);
        let second = b
            .with(t + 60, no_grace.clone())
            .refresh(&login.refresh_token)
            .await
            .unwrap();
        let third = b
            .with(t + 120, no_grace.clone())
            .refresh(&second.refresh_token)
            .await
            .unwrap();

        let gate = b.with(t + 130, no_grace);
        let err = gate.refresh(&login.refresh_token).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ReusedRefreshToken);
        assert_eq!(err.class().exit_code(), 1);
        let short = &login.session_id[..8];
        assert_eq!(
            err.to_string(),
            format!("refresh token already used; session {short}… is now revoked, log in again")
        );
        assert!(
            !err.to_string().contains(&login.session_id),
            "sid prefix only"
        );
        assert_eq!(gate.reuse_detections(), 1);

        // The user's current access and refresh tokens stop working, here and elsewhere.
        assert_eq!(
            revoked_scope(verify(&gate, &third.access_token).await),
            "session"
        );
        assert_eq!(
            revoked_scope(verify(&b.other(t + 130), &third.access_token).await),
            "session"
        );
        assert_eq!(
            kind(gate.refresh(&third.refresh_token).await),
            ErrorKind::UnknownSession
        );
        assert_eq!(
            kind(gate.refresh(&second.refresh_token).await),
            ErrorKind::UnknownSession
        );
        // The user's other session is untouched, and a new login works.
        verify(&gate, &other_device.access_token).await.unwrap();
        let list = gate.sessions(&sub).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].sid, other_device.session_id);
        let fresh = b.at(t + 140).login(&LoginRequest::new(&sub)).await.unwrap();
        verify(&b.at(t + 140), &fresh.access_token).await.unwrap();
        b.at(t + 150).refresh(&fresh.refresh_token).await.unwrap();
    }

    /// Every access token carries its session id, so anyone who saw one could make up
    /// `tgr1.<sid>.<generation>.<junk>`. Such a token was never issued: it is refused before the
    /// store is asked, and it must not pass for a stolen token and end the victim's session.
    pub(crate) async fn a_made_up_refresh_token_cannot_end_the_session<S: SessionStore>(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let gate = b.at(t);
        let pair = gate.login(&LoginRequest::new(unique("u"))).await.unwrap();
        for generation in [1, 2, 7] {
            let forged = format!(
                "tgr1.{}.{generation}.{}",
                pair.session_id,
                URL_SAFE_NO_PAD.encode([7u8; 32])
            );
            assert_eq!(kind(gate.refresh(&forged).await), ErrorKind::UnknownSession);
            assert_eq!(kind(gate.logout(&forged).await), ErrorKind::UnknownSession);
            assert_eq!(
                kind(gate.logout_all_by_token(&forged).await),
                ErrorKind::UnknownSession,
                "logout-all refuses it before asking the store"
            );
        }
        verify(&gate, &pair.access_token).await.unwrap();
        let next = b.at(t + 1).refresh(&pair.refresh_token).await.unwrap();
        verify(&b.at(t + 1), &next.access_token).await.unwrap();
    }

    pub(crate) async fn grace_replay_returns_the_identical_pair<S: SessionStore>(b: &Backend<S>) {
        let t = b.t0;
        let login = b
            .at(t)
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        let first = b.at(t + 100).refresh(&login.refresh_token).await.unwrap();
        // A second tab, or a retry after a lost response, 4 seconds later.
        let replay = b.at(t + 104).refresh(&login.refresh_token).await.unwrap();
        assert_eq!(replay.refresh_token, first.refresh_token);
        assert_eq!(
            replay.access_token, first.access_token,
            "EdDSA: the very same bytes"
        );
        assert_eq!(replay.expires_in, first.expires_in - 4);
        assert_eq!(replay.refresh_expires_in, first.refresh_expires_in);
        if b.manual() {
            let at_edge = b.at(t + 110).refresh(&login.refresh_token).await.unwrap();
            assert_eq!(
                at_edge.refresh_token, first.refresh_token,
                "grace is inclusive"
            );
        }
        // Still one rotation.
        let record = b.store.session(&login.session_id).await.unwrap().unwrap();
        assert_eq!(record.generation, 2);
        // The successor works once, as usual.
        let next = b.at(t + 111).refresh(&first.refresh_token).await.unwrap();
        assert_eq!(parts(&next.refresh_token).1, 3);

        // After the window, the parent is a stolen token. On a store whose clock the test
        // cannot move, a one-second window and a real wait.
        let config = if b.manual() {
            SessionConfig::new()
        } else {
            SessionConfig::new().with_grace(Duration::from_secs(1))
        };
        let login = b
            .with(t, config.clone())
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        let first = b
            .with(t + 100, config.clone())
            .refresh(&login.refresh_token)
            .await
            .unwrap();
        if !b.manual() {
            tokio::time::sleep(Duration::from_millis(2_100)).await;
        }
        let gate = b.with(t + 111, config);
        assert_eq!(
            kind(gate.refresh(&login.refresh_token).await),
            ErrorKind::ReusedRefreshToken
        );
        assert_eq!(
            revoked_scope(verify(&gate, &first.access_token).await),
            "session"
        );

        // With the grace window off, any replay is theft.
        let no_grace = SessionConfig::new().with_grace(Duration::ZERO);
        let login = b
            .with(t, no_grace.clone())
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        b.with(t, no_grace.clone())
            .refresh(&login.refresh_token)
            .await
            .unwrap();
        assert_eq!(
            kind(b.with(t, no_grace).refresh(&login.refresh_token).await),
            ErrorKind::ReusedRefreshToken
        );
    }

    pub(crate) async fn remembered_sessions_slide_up_to_the_absolute_cap<S: SessionStore>(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let request = LoginRequest::new(unique("u")).with_remember_me(true);
        let mut pair = b.at(t).login(&request).await.unwrap();
        assert!(pair.remember_me);
        assert_eq!(pair.refresh_expires_in, 30 * DAY);
        if !b.manual() {
            // The server's clock does not move: the record's TTL is the window.
            let record = b.store.session(&pair.session_id).await.unwrap().unwrap();
            assert_eq!(record.expires_at - record.created, 30 * DAY);
            assert_eq!(record.absolute_expires_at - record.created, 90 * DAY);
            return;
        }
        // Each refresh slides the window to 30 days from now...
        for day in [29, 58] {
            pair = b
                .at(t + day * DAY)
                .refresh(&pair.refresh_token)
                .await
                .unwrap();
            assert_eq!(pair.refresh_expires_in, 30 * DAY, "day {day}");
        }
        // ...but never beyond 90 days after login.
        pair = b
            .at(t + 87 * DAY)
            .refresh(&pair.refresh_token)
            .await
            .unwrap();
        assert_eq!(pair.refresh_expires_in, 3 * DAY);
        let info = b.at(t + 87 * DAY).sessions(request.sub()).await.unwrap();
        assert_eq!(info[0].absolute_expires_at, t + 90 * DAY);
        assert_eq!(info[0].expires_at, t + 90 * DAY);
        assert_eq!(
            kind(b.at(t + 90 * DAY).refresh(&pair.refresh_token).await),
            ErrorKind::UnknownSession
        );

        // An unused remembered session lapses after its window.
        let pair = b.at(t).login(&request).await.unwrap();
        assert_eq!(
            kind(b.at(t + 30 * DAY).refresh(&pair.refresh_token).await),
            ErrorKind::UnknownSession
        );
    }

    pub(crate) async fn session_only_refresh_tokens_end_after_12_hours<S: SessionStore>(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let sub = unique("u");
        let mut pair = b.at(t).login(&LoginRequest::new(&sub)).await.unwrap();
        if b.manual() {
            for (at, left) in [(HOUR, 11 * HOUR), (11 * HOUR, HOUR)] {
                pair = b.at(t + at).refresh(&pair.refresh_token).await.unwrap();
                assert_eq!(
                    pair.refresh_expires_in, left,
                    "no sliding beyond 12h from login"
                );
            }
            assert_eq!(
                kind(b.at(t + 12 * HOUR).refresh(&pair.refresh_token).await),
                ErrorKind::UnknownSession
            );
            assert!(b.at(t + 12 * HOUR).sessions(&sub).await.unwrap().is_empty());
            // Expired records are purged (Redis: by their TTL instead).
            b.store.purge_sessions().await.unwrap();
            assert!(b.store.session(&pair.session_id).await.unwrap().is_none());
        } else if let Some(redis) = &b.redis {
            let pttl = (redis.pttl)(&redis.store.record_key(&pair.session_id));
            assert!(
                (12 * HOUR * 1000 - 5_000..=12 * HOUR * 1000).contains(&pttl),
                "PTTL {pttl}"
            );
        }

        // Lifetimes are configurable.
        let config = SessionConfig::new()
            .with_access_ttl(Duration::from_secs(60))
            .with_refresh_window(Duration::from_secs(HOUR as u64));
        let pair = b
            .with(t, config)
            .login(&LoginRequest::new(&sub))
            .await
            .unwrap();
        assert_eq!((pair.expires_in, pair.refresh_expires_in), (60, HOUR));
        let too_long = SessionConfig::new().with_access_ttl(Duration::from_secs(2 * DAY as u64));
        assert_eq!(
            kind(b.with(t, too_long).login(&LoginRequest::new(&sub)).await),
            ErrorKind::Usage
        );
        assert_eq!(
            kind(b.at(t).login(&LoginRequest::new("")).await),
            ErrorKind::Usage
        );
    }

    pub(crate) async fn logout_all_and_the_session_list<S: SessionStore>(b: &Backend<S>) {
        let t = b.t0;
        let (alice, bob) = (unique("alice"), unique("bob"));
        let mut pairs = Vec::new();
        for (i, remember) in [false, true, false].into_iter().enumerate() {
            let request = LoginRequest::new(&alice)
                .with_remember_me(remember)
                .with_device(Device::new(Some(format!("browser {i}")), None));
            pairs.push(b.at(t + i as i64).login(&request).await.unwrap());
        }
        let bobs = b.at(t).login(&LoginRequest::new(&bob)).await.unwrap();
        // The oldest session is used last, so it lists first.
        if !b.manual() {
            // Last-used times come from the server's clock: make them differ.
            tokio::time::sleep(Duration::from_millis(1_100)).await;
        }
        pairs[0] = b.at(t + 50).refresh(&pairs[0].refresh_token).await.unwrap();
        let list = b.at(t + 60).sessions(&alice).await.unwrap();
        assert_eq!(list[0].sid, pairs[0].session_id);
        let mut rest: Vec<&str> = list[1..].iter().map(|s| s.sid.as_str()).collect();
        rest.sort_unstable();
        let mut expected = [pairs[1].session_id.as_str(), pairs[2].session_id.as_str()];
        expected.sort_unstable();
        assert_eq!(rest, expected);
        if b.manual() {
            assert_eq!(list[1].sid, pairs[2].session_id);
            assert_eq!(list[2].device.user_agent.as_deref(), Some("browser 1"));
            assert!(list[2].remember_me && !list[0].remember_me);
        }
        assert_eq!(b.at(t + 60).sessions(&bob).await.unwrap().len(), 1);

        let gate = b.at(t + 100);
        assert_eq!(gate.logout_all(&alice).await.unwrap(), 3);
        assert!(gate.sessions(&alice).await.unwrap().is_empty());
        for pair in &pairs {
            let scope = revoked_scope(verify(&gate, &pair.access_token).await);
            assert!(scope == "session" || scope == "user", "{scope}");
            // Refused as revoked by the user's logout-all (it was `unknown_session` before the
            // attack review: the refusal now says why).
            assert_eq!(
                revoked_scope(gate.refresh(&pair.refresh_token).await),
                "user"
            );
        }
        verify(&gate, &bobs.access_token).await.unwrap();
        assert_eq!(gate.logout_all(&alice).await.unwrap(), 0);
        // A later login is not caught by the user revocation (on a store with a real clock,
        // once its second has passed: a login in the very same second is, the stated cost).
        b.next_second(b.store_now()).await;
        let later = b.at(t + 101);
        let pair = later.login(&LoginRequest::new(&alice)).await.unwrap();
        verify(&later, &pair.access_token).await.unwrap();
        assert_eq!(later.sessions(&alice).await.unwrap().len(), 1);
        later.refresh(&pair.refresh_token).await.unwrap();
    }

    pub(crate) async fn ending_other_sessions_keeps_one<S: SessionStore>(b: &Backend<S>) {
        let sub = unique("u");
        let gate = b.at(b.t0);
        let mut pairs = Vec::new();
        for _ in 0..3 {
            pairs.push(gate.login(&LoginRequest::new(&sub)).await.unwrap());
        }
        let keep = &pairs[0];
        assert_eq!(
            gate.end_other_sessions(&sub, &keep.session_id)
                .await
                .unwrap(),
            2
        );
        let list = gate.sessions(&sub).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].sid, keep.session_id);
        verify(&gate, &keep.access_token).await.unwrap();
        for gone in &pairs[1..] {
            assert_eq!(
                revoked_scope(verify(&gate, &gone.access_token).await),
                "session"
            );
            assert_eq!(
                kind(gate.refresh(&gone.refresh_token).await),
                ErrorKind::UnknownSession
            );
        }
        // One session by id: only its owner can end it.
        assert_eq!(
            kind(gate.end_session("mallory", &keep.session_id).await),
            ErrorKind::UnknownSession
        );
        assert_eq!(
            kind(gate.end_session(&sub, "not-a-sid").await),
            ErrorKind::UnknownSession
        );
        verify(&gate, &keep.access_token).await.unwrap();
        gate.end_session(&sub, &keep.session_id).await.unwrap();
        assert_eq!(
            revoked_scope(verify(&gate, &keep.access_token).await),
            "session"
        );
        assert_eq!(
            kind(gate.end_session(&sub, &keep.session_id).await),
            ErrorKind::UnknownSession
        );
    }

    pub(crate) async fn a_revoked_session_cannot_refresh<S: SessionStore>(b: &Backend<S>) {
        let gate = b.at(b.t0);
        let pair = gate.login(&LoginRequest::new(unique("u"))).await.unwrap();
        gate.revoke(Scope::Session, &pair.session_id).await.unwrap();
        assert_eq!(
            kind(gate.refresh(&pair.refresh_token).await),
            ErrorKind::UnknownSession
        );
    }

    pub(crate) async fn the_raw_store_holds_no_secret<S: SessionStore>(b: &Backend<S>) {
        let Some(dump) = &b.raw else {
            return; // the memory store has no outside view
        };
        let t = b.t0;
        let login = b
            .at(t)
            .login(&LoginRequest::new(unique("u")).with_remember_me(true))
            .await
            .unwrap();
        let second = b.at(t + 60).refresh(&login.refresh_token).await.unwrap();
        let third = b.at(t + 120).refresh(&second.refresh_token).await.unwrap();
        let pairs: [&TokenPair; 3] = [&login, &second, &third];
        let raw = dump();
        let haystack: Vec<u8> = raw.concat();
        let contains = |needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
        // Sanity: we are looking at the session (the digest of its current secret).
        let (_, _, current) = parts(&third.refresh_token);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &current);
        assert!(
            contains(digest.as_ref()),
            "the digest of the current secret is stored"
        );
        for pair in pairs {
            let (_, _, secret) = parts(&pair.refresh_token);
            let text = pair.refresh_token.rsplit('.').next().unwrap();
            let signature = pair.access_token.rsplit('.').next().unwrap();
            for (what, needle) in [
                ("refresh token", pair.refresh_token.as_bytes()),
                ("secret (base64url)", text.as_bytes()),
                ("secret (raw, first 16 bytes)", &secret[..16]),
                ("secret (raw, last 16 bytes)", &secret[16..]),
                ("access token", pair.access_token.as_bytes()),
                ("access token signature", signature.as_bytes()),
            ] {
                assert!(!contains(needle), "the store holds a {what}");
            }
        }
    }

    /// Issue 8, item 1: a session revocation ends the session for good: past the 24 h that a
    /// denylist entry lived before, it still cannot refresh and stays out of the session list.
    pub(crate) async fn issue_8_a_revoked_session_never_refreshes_again<S: SessionStore>(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let sub = unique("u");
        let pair = b
            .at(t)
            .login(&LoginRequest::new(&sub).with_remember_me(true))
            .await
            .unwrap();
        match b
            .at(t)
            .revoke(Scope::Session, &pair.session_id)
            .await
            .unwrap()
        {
            Revoked::Scope { sessions_ended, .. } => assert_eq!(sessions_ended, 1),
            other => panic!("{other:?}"),
        }
        for later in [t + 10, t + DAY + 31, t + 29 * DAY] {
            let gate = b.at(later);
            assert_eq!(
                kind(gate.refresh(&pair.refresh_token).await),
                ErrorKind::UnknownSession,
                "at +{}",
                later - t
            );
            assert!(gate.sessions(&sub).await.unwrap().is_empty());
        }
    }

    /// Issue 8, item 2: user and global revocations stop refresh, from the library as from the
    /// CLI: a session created before them never mints another access token.
    pub(crate) async fn issue_8_user_and_global_revocations_stop_refresh<S: SessionStore>(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let (alice, bob) = (unique("alice"), unique("bob"));
        let a = b.at(t).login(&LoginRequest::new(&alice)).await.unwrap();
        let c = b.at(t).login(&LoginRequest::new(&bob)).await.unwrap();
        match b.at(t + 1).revoke(Scope::User, &alice).await.unwrap() {
            Revoked::Scope { sessions_ended, .. } => assert_eq!(sessions_ended, 1),
            other => panic!("{other:?}"),
        }
        // Refused as revoked, by its user (the attack review found `unknown_session` here).
        assert_eq!(
            revoked_scope(b.at(t + 2).refresh(&a.refresh_token).await),
            "user"
        );
        assert_eq!(
            revoked_scope(verify(&b.at(t + 2), &a.access_token).await),
            "session"
        );
        // Bob is untouched by Alice's revocation, but not by a global one.
        let c2 = b.at(t + 3).refresh(&c.refresh_token).await.unwrap();
        assert_eq!(b.at(t + 3).sessions(&bob).await.unwrap().len(), 1);
        b.at(t + 4).revoke(Scope::Global, "").await.unwrap();
        // It leaves the session list at once, before any refresh tries it.
        assert!(b.at(t + 4).sessions(&bob).await.unwrap().is_empty());
        assert_eq!(
            revoked_scope(b.at(t + 5).refresh(&c2.refresh_token).await),
            "global"
        );
        // Its access token is refused too (by the session scope now: the refused session was
        // ended, so it stays refused once the global entry is gone).
        let scope = revoked_scope(verify(&b.at(t + 5), &c2.access_token).await);
        assert!(scope == "session" || scope == "global", "{scope}");
        assert!(b.at(t + 5).sessions(&bob).await.unwrap().is_empty());
        // A login after the global revocation works (its second having passed).
        b.next_second(b.store_now()).await;
        let fresh = b.at(t + 6).login(&LoginRequest::new(&bob)).await.unwrap();
        verify(&b.at(t + 6), &fresh.access_token).await.unwrap();
        b.at(t + 7).refresh(&fresh.refresh_token).await.unwrap();
    }

    /// Issue 8, item 10: logout with an access token needs one that verifies or expired less
    /// than `max_ttl` ago; logging out a session that already ended writes nothing.
    pub(crate) async fn issue_8_logout_takes_only_recent_tokens_and_writes_once<S: SessionStore>(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let pair = b
            .at(t)
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        // An access token expired a day and more ago ends nothing.
        let old = b.at(t + 15 * 60 + DAY);
        assert_eq!(
            kind(old.logout(&pair.access_token).await),
            ErrorKind::Expired
        );
        b.at(t + 1).refresh(&pair.refresh_token).await.unwrap();

        let fresh = b
            .at(t)
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        b.at(t + 1).logout(&fresh.access_token).await.unwrap();
        let key = EntryKey::new(
            &tollgate::keys::Namespace::Own,
            Scope::Session,
            &fresh.session_id,
        );
        let before = b.store.list().await.unwrap();
        let entry = before
            .iter()
            .find(|e| e.key == key)
            .copied()
            .expect("written once");
        // A replay of the (still verifiable) token writes nothing more.
        for i in 0..3 {
            b.at(t + 2 + i).logout(&fresh.access_token).await.unwrap();
        }
        let after = b.store.list().await.unwrap();
        let again = after.iter().find(|e| e.key == key).copied().unwrap();
        assert_eq!(again, entry, "no second write");
        // The entry lives as long as the session's latest access token could verify.
        assert!(
            (entry.expires_at - (t + 15 * 60 + 300 + 1)).abs() <= 2,
            "{entry:?}"
        );
    }

    /// Issue 8, item 11: a refresh whose access token could not be minted after the rotation
    /// committed is answered again to the same parent, whatever the grace window, rather than
    /// taken for theft.
    pub(crate) async fn issue_8_an_undelivered_refresh_is_replayed_not_theft<S: SessionStore>(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let no_grace = SessionConfig::new().with_grace(Duration::ZERO);
        let pair = b
            .with(t, no_grace.clone())
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        // A server whose keyring has no active key (same session key): the rotation commits,
        // the mint fails.
        let broken = TempKeyring::new();
        std::fs::copy(
            b.keys.keyring.dir().join("session.key"),
            broken.keyring.dir().join("session.key"),
        )
        .unwrap();
        let gate = Gate::new(b.store.clone())
            .with_keyring(Keyring::open(broken.keyring.dir()).unwrap())
            .with_clock(Clock::fixed(t + 5))
            .with_session_config(no_grace.clone());
        assert_eq!(
            kind(gate.refresh(&pair.refresh_token).await),
            ErrorKind::BadKey
        );
        // The client retries (with grace off): the same successor, not theft.
        let retry = b
            .with(t + 60, no_grace.clone())
            .refresh(&pair.refresh_token)
            .await
            .unwrap();
        assert_eq!(parts(&retry.refresh_token).1, 2);
        verify(&b.at(t + 60), &retry.access_token).await.unwrap();
        // That answer was delivered: the parent is spent again (the attack review replayed it
        // three more times, the mark never cleared). Presented once more, it is theft.
        assert_eq!(
            kind(
                b.with(t + 120, no_grace.clone())
                    .refresh(&pair.refresh_token)
                    .await
            ),
            ErrorKind::ReusedRefreshToken
        );
        assert_eq!(
            kind(
                b.with(t + 121, no_grace)
                    .refresh(&retry.refresh_token)
                    .await
            ),
            ErrorKind::UnknownSession
        );
    }

    /// Attack review: a replay within the grace window answered by a service with a longer
    /// access lifetime than the one that rotated re-mints a token that ends no later than the
    /// one the session recorded, so a logout's entry (sized by the record) outlives it.
    pub(crate) async fn attack_a_replay_never_outlives_the_recorded_access_token<
        S: SessionStore,
    >(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let pair = b
            .at(t)
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        let rotated = b.at(t + 1).refresh(&pair.refresh_token).await.unwrap();
        let day = SessionConfig::new().with_access_ttl(Duration::from_secs(DAY as u64));
        let replay = b
            .with(t + 2, day)
            .refresh(&pair.refresh_token)
            .await
            .unwrap();
        assert_eq!(replay.refresh_token, rotated.refresh_token);
        let gate = b.at(t + 2);
        let recorded = verify(&gate, &rotated.access_token)
            .await
            .unwrap()
            .claims
            .exp;
        let replayed = verify(&gate, &replay.access_token)
            .await
            .unwrap()
            .claims
            .exp;
        assert!(replayed <= recorded, "{replayed} > {recorded}");
        b.at(t + 3).logout(&rotated.refresh_token).await.unwrap();
        // The most patient verifier, just before the replayed token expires for it.
        let patient = b
            .at(recorded + 299)
            .with_options(tollgate::VerifyOptions::new().with_leeway(Duration::from_secs(300)));
        assert_eq!(
            revoked_scope(verify(&patient, &replay.access_token).await),
            "session"
        );
    }

    /// Attack review: a global revocation is kept as long as any session may live (sessions
    /// are created by services with their own windows, not the revoker's), and a window longer
    /// than that is refused.
    pub(crate) async fn attack_a_global_revocation_outlives_every_session<S: SessionStore>(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let year = Duration::from_secs(365 * DAY as u64);
        let long = SessionConfig::new()
            .with_remember_window(year)
            .with_absolute_max(year);
        let pair = b
            .with(t, long)
            .login(&LoginRequest::new(unique("u")).with_remember_me(true))
            .await
            .unwrap();
        let Revoked::Scope {
            entry: Some(entry), ..
        } = b.at(t + 1).revoke(Scope::Global, "").await.unwrap()
        else {
            panic!("no entry")
        };
        let record = b.store.session(&pair.session_id).await.unwrap().unwrap();
        assert!(
            entry.expires_at > record.absolute_expires_at + 300,
            "{entry:?} {record:?}"
        );
        if b.manual() {
            assert_eq!(
                revoked_scope(b.at(t + 91 * DAY).refresh(&pair.refresh_token).await),
                "global"
            );
        }
        let too_long =
            SessionConfig::new().with_absolute_max(Duration::from_secs(400 * DAY as u64));
        assert_eq!(
            kind(b.with(t + 2, too_long).login(&LoginRequest::new("x")).await),
            ErrorKind::Usage
        );
    }

    /// Attack review: revoking a session refuses every token carrying its id for as long as any
    /// token can live, including one minted with that id outside the session (`mint --sid`),
    /// which the session's record does not know.
    pub(crate) async fn attack_revoking_a_session_covers_tokens_minted_with_its_id<
        S: SessionStore,
    >(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let sub = unique("u");
        let pair = b.at(t).login(&LoginRequest::new(&sub)).await.unwrap();
        let minted = b
            .at(t)
            .mint(
                &tollgate::MintOptions::new(&sub)
                    .with_sid(&pair.session_id)
                    .with_ttl(Duration::from_secs(4 * HOUR as u64)),
            )
            .unwrap();
        let Revoked::Scope {
            entry: Some(entry), ..
        } = b
            .at(t + 1)
            .revoke(Scope::Session, &pair.session_id)
            .await
            .unwrap()
        else {
            panic!("no entry")
        };
        assert!(entry.expires_at >= t + 1 + DAY, "{entry:?}");
        let later = if b.manual() { t + 3 * HOUR } else { t + 2 };
        assert_eq!(
            revoked_scope(verify(&b.at(later), &minted.token).await),
            "session"
        );
    }

    /// Attack review: an access token revoked on its own no longer speaks for its session:
    /// whoever holds a leaked, revoked token cannot log its owner out with it.
    pub(crate) async fn attack_a_revoked_access_token_cannot_log_out<S: SessionStore>(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let pair = b
            .at(t)
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        b.at(t).revoke_token(&pair.access_token).await.unwrap();
        assert_eq!(
            revoked_scope(b.at(t + 1).logout(&pair.access_token).await),
            "token"
        );
        b.at(t + 2).refresh(&pair.refresh_token).await.unwrap();
    }

    /// Attack review: revocations reach other issuers' tokens where they should. tollgate's own
    /// user and session scopes do not (their ids belong to another namespace); the same scopes
    /// in the issuer's namespace do; key and global revocations hold for every issuer.
    pub(crate) async fn attack_every_scope_reaches_another_issuers_tokens<S: SessionStore>(
        b: &Backend<S>,
    ) {
        let t = b.t0;
        let issuer = TempKeyring::with_key(Algorithm::EdDSA);
        let kid = issuer.kid();
        let public = issuer.keyring.export(&kid, false, None).unwrap();
        Keyring::open(b.keys.keyring.dir())
            .unwrap()
            .import(public.as_bytes(), None, None, None, &Clock::fixed(t))
            .unwrap();
        let mint = |sub: &str, sid: &str| {
            tollgate::mint(
                &issuer.keyring,
                &tollgate::MintOptions::new(sub).with_sid(sid),
                &Clock::fixed(t),
            )
            .unwrap()
            .token
        };
        let (alice, bob, carol) = (unique("alice"), unique("bob"), unique("carol"));
        let (a, c, d) = (
            mint(&alice, "s-a"),
            mint(&bob, "s-ext"),
            mint(&carol, "s-c"),
        );
        let namespace = verify(&b.at(t + 1), &a).await.unwrap().namespace;
        assert!(!namespace.is_own());
        // tollgate's own user and session revocations are not the issuer's.
        b.at(t + 1).revoke(Scope::User, &alice).await.unwrap();
        b.at(t + 1).revoke(Scope::Session, "s-ext").await.unwrap();
        verify(&b.at(t + 2), &a).await.unwrap();
        verify(&b.at(t + 2), &c).await.unwrap();
        // In its namespace they hold.
        b.at(t + 2)
            .revoke_in(&namespace, Scope::User, &alice)
            .await
            .unwrap();
        b.at(t + 2)
            .revoke_in(&namespace, Scope::Session, "s-ext")
            .await
            .unwrap();
        assert_eq!(revoked_scope(verify(&b.at(t + 3), &a).await), "user");
        assert_eq!(revoked_scope(verify(&b.at(t + 3), &c).await), "session");
        // Its key, revoked by kid, and everyone, globally.
        verify(&b.at(t + 3), &d).await.unwrap();
        b.at(t + 3).revoke(Scope::Key, &kid).await.unwrap();
        assert_eq!(revoked_scope(verify(&b.at(t + 4), &d).await), "key");
        let e = mint(&carol, "s-e");
        b.at(t + 4).revoke(Scope::Global, "").await.unwrap();
        let scope = revoked_scope(verify(&b.at(t + 5), &e).await);
        assert!(scope == "key" || scope == "global", "{scope}");
    }

    /// Issue 8, item 12: two application servers whose clocks are 20 s apart share a store:
    /// the grace window and the entries follow the store's clock, not theirs.
    pub(crate) async fn issue_8_servers_20_seconds_apart_agree<S: SessionStore>(b: &Backend<S>) {
        let t = b.t0;
        let pair = b
            .at(t)
            .login(&LoginRequest::new(unique("u")))
            .await
            .unwrap();
        // The fast server rotates; the slow one (20 s behind) replays within the grace window
        // on the store's clock: the same pair, although its own clock says -20 s.
        let fast = b.at(t + 20).refresh(&pair.refresh_token).await.unwrap();
        let slow_gate = Gate::new(b.store.clone())
            .with_keyring(b.keyring())
            .with_clock(Clock::fixed(t));
        let replay = slow_gate.refresh(&pair.refresh_token).await.unwrap();
        assert_eq!(replay.refresh_token, fast.refresh_token);
        // The slow server logs out: the entry is kept until the session's latest access token
        // (issued by the fast one) expires, plus the maximum leeway.
        slow_gate.logout(&fast.access_token).await.unwrap();
        let key = EntryKey::new(
            &tollgate::keys::Namespace::Own,
            Scope::Session,
            &pair.session_id,
        );
        let entry = b
            .store
            .list()
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.key == key)
            .unwrap();
        assert!(entry.expires_at >= t + 20 + 15 * 60 + 300, "{entry:?}");
        // A verifier with the largest leeway the store allows, just before it lets the token
        // expire: still refused.
        let patient = Gate::new(b.store.clone())
            .with_keyring(b.keyring())
            .with_clock(Clock::fixed(t + 20 + 15 * 60 + 299))
            .with_options(tollgate::VerifyOptions::new().with_leeway(Duration::from_secs(300)));
        assert_eq!(
            revoked_scope(verify(&patient, &fast.access_token).await),
            "session"
        );
    }
}

for_each_backend!(
    suite,
    [
        login_refresh_and_logout,
        logout_with_a_refresh_token,
        tokens_are_not_interchangeable,
        theft_revokes_the_whole_session,
        a_made_up_refresh_token_cannot_end_the_session,
        grace_replay_returns_the_identical_pair,
        remembered_sessions_slide_up_to_the_absolute_cap,
        session_only_refresh_tokens_end_after_12_hours,
        logout_all_and_the_session_list,
        ending_other_sessions_keeps_one,
        a_revoked_session_cannot_refresh,
        the_raw_store_holds_no_secret,
        issue_8_a_revoked_session_never_refreshes_again,
        issue_8_user_and_global_revocations_stop_refresh,
        issue_8_logout_takes_only_recent_tokens_and_writes_once,
        issue_8_an_undelivered_refresh_is_replayed_not_theft,
        issue_8_servers_20_seconds_apart_agree,
        attack_a_replay_never_outlives_the_recorded_access_token,
        attack_a_global_revocation_outlives_every_session,
        attack_revoking_a_session_covers_tokens_minted_with_its_id,
        attack_a_revoked_access_token_cannot_log_out,
        attack_every_scope_reaches_another_issuers_tokens,
    ]
);

/// A verifier behind a local replica sees a reuse detection at once, with no round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_applies_a_reuse_revocation_at_once() {
    use tollgate::store::{Replica, ReplicaConfig, Store};
    let now = Clock::system().now();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    let keys = TempKeyring::with_key(Algorithm::EdDSA);
    let config = ReplicaConfig::default()
        // A slow feed, so that only the local apply can explain what the test sees.
        .with_poll_interval(Duration::from_secs(30))
        .with_max_staleness(Duration::from_secs(120));
    let replica = Replica::start(Store::open(&url).await.unwrap(), config).unwrap();
    assert!(replica.wait_fresh(Duration::from_secs(20)).await);
    let gate = Gate::new(replica)
        .with_keyring(Keyring::open(keys.keyring.dir()).unwrap())
        .with_clock(Clock::fixed(now))
        .with_session_config(SessionConfig::new().with_grace(Duration::ZERO));
    let pair = gate.login(&LoginRequest::new("alice")).await.unwrap();
    let next = gate.refresh(&pair.refresh_token).await.unwrap();
    assert_eq!(
        kind(gate.refresh(&pair.refresh_token).await),
        ErrorKind::ReusedRefreshToken
    );
    let err = gate.verify::<Value>(&next.access_token).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Revoked);
    assert_eq!(
        gate.store().freshness().strict_checks,
        0,
        "answered from memory"
    );

    let other = gate.login(&LoginRequest::new("alice")).await.unwrap();
    gate.logout(&other.refresh_token).await.unwrap();
    assert_eq!(
        kind(gate.verify::<Value>(&other.access_token).await),
        ErrorKind::Revoked
    );
}

/// A `Store` can itself be a replica of another (`Store::replicated`, what `serve` runs on):
/// sessions and revocations go through it, and checks are answered from memory while its feed
/// is current.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_behind_its_replica_serves_the_whole_flow() {
    use tollgate::store::{ReplicaConfig, Store};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    let store = Store::open(&url)
        .await
        .unwrap()
        .replicated(
            ReplicaConfig::default()
                .with_poll_interval(Duration::from_millis(20))
                .with_max_staleness(Duration::from_secs(2)),
        )
        .unwrap();
    assert_eq!(store.url(), url);
    let replica = store.replica().expect("a replica");
    assert!(replica.wait_fresh(Duration::from_secs(20)).await);
    let keys = TempKeyring::with_key(Algorithm::EdDSA);
    let gate = Gate::new(store.clone())
        .with_keyring(Keyring::open(keys.keyring.dir()).unwrap())
        .with_clock(Clock::system());
    let pair = gate.login(&LoginRequest::new("ann")).await.unwrap();
    verify(&gate, &pair.access_token).await.unwrap();
    let strict_before = replica.freshness().strict_checks;
    let next = gate.refresh(&pair.refresh_token).await.unwrap();
    verify(&gate, &next.access_token).await.unwrap();
    assert_eq!(
        replica.freshness().strict_checks,
        strict_before,
        "checks answered from memory"
    );
    // A logout is refused at once by this process (applied locally, not waiting for the feed).
    gate.logout(&next.access_token).await.unwrap();
    assert_eq!(
        revoked_scope(verify(&gate, &next.access_token).await),
        "session"
    );
    // And a replica of a replica is the replica itself; memory: stays as it is.
    assert!(
        store
            .clone()
            .replicated(ReplicaConfig::default())
            .unwrap()
            .replica()
            .is_some()
    );
    let memory = Store::open("memory:").await.unwrap();
    assert!(
        memory
            .replicated(ReplicaConfig::default())
            .unwrap()
            .replica()
            .is_none()
    );
}
