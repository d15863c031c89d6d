//! A token minted by an issuer's keyring, verified end to end through its JWK Set fetched by
//! `RemoteJwks`: in the issuer's namespace, or in the key's own.

use tollgate::keys::{LifetimeBound, Namespace, RemoteJwks, thumbprint};
use tollgate::{Algorithm, Clock, ErrorKind, KeyState, MintOptions, VerifyOptions, mint, verify};

use crate::config;
use crate::issuer::{Issuer, JwksServer};

#[tokio::test]
async fn a_token_verifies_through_the_remote_set() {
    let clock = Clock::system();
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let issuer = Issuer::new(alg);
        let server = JwksServer::start(issuer.jwks(), Some("max-age=300")).await;
        let iss = "https://issuer.example";
        let options = MintOptions::new("alice").with_issuer(iss);
        let minted = mint(&issuer.keyring, &options, &clock).unwrap();
        let public = issuer.keyring.public_key(&minted.kid).unwrap();

        let jwks = RemoteJwks::new(&server.url(), Some(iss.to_owned()), config()).unwrap();
        let set = jwks.key_set_for(Some(&minted.kid)).await.unwrap();
        let key = set.get(&minted.kid).unwrap();
        assert_eq!(key.state(), KeyState::Verify);
        assert_eq!(key.lifetime(), LifetimeBound::issuer());
        assert_eq!(key.namespace(), &Namespace::Issuer(iss.to_owned()));
        // A tollgate-minted token (typ at+jwt, exp/iat/sub/jti, 15 minutes: within the issuer
        // bound of 24 hours, `iss` the issuer the keys are bound to) passes the profile of
        // another issuer's keys.
        let verified =
            verify::<serde_json::Value>(&minted.token, &set, &VerifyOptions::new(), &clock)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.header.kid.as_deref(), Some(minted.kid.as_str()));
        assert_eq!(verified.key_state, KeyState::Verify);
        assert_eq!(verified.namespace, Namespace::Issuer(iss.to_owned()));

        // Without an issuer: the key's own namespace, its RFC 7638 thumbprint.
        let jwks = RemoteJwks::new(&server.url(), None, config()).unwrap();
        let set = jwks.key_set_for(Some(&minted.kid)).await.unwrap();
        let verified =
            verify::<serde_json::Value>(&minted.token, &set, &VerifyOptions::new(), &clock)
                .unwrap();
        assert_eq!(verified.namespace, Namespace::Key(thumbprint(&public)));
        assert_eq!(server.hits(), 2);
    }
}

#[tokio::test]
async fn a_token_of_another_key_is_rejected_not_unavailable() {
    let clock = Clock::system();
    let issuer = Issuer::new(Algorithm::EdDSA);
    let stranger = Issuer::new(Algorithm::EdDSA);
    let server = JwksServer::start(issuer.jwks(), Some("max-age=300")).await;
    let jwks = RemoteJwks::new(&server.url(), None, config()).unwrap();
    let minted = mint(&stranger.keyring, &MintOptions::new("mallory"), &clock).unwrap();
    let set = jwks.key_set_for(Some(&minted.kid)).await.unwrap();
    let err = verify::<serde_json::Value>(&minted.token, &set, &VerifyOptions::new(), &clock)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownKid, "{err}");
}
