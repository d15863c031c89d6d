//! TLS through rustls, and SCRAM bound to the channel.

use std::time::Duration;

use tollgate::store::{ChangeFeed, PostgresStore, Revocation, RevocationStore, Scope};
use tollgate::{Clock, ErrorKind};

use crate::common::postgres::PgServer;

#[tokio::test]
async fn tls_verifies_the_server_and_binds_the_password_login_to_it() {
    use crate::common::postgres::{PASSWORD, USER};
    let server = PgServer::start_tls();
    server.psql("postgres", "CREATE DATABASE tls");
    let base = format!(
        "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/tls",
        server.port()
    );
    let ca = server.ca().display().to_string();

    // verify-full with the server's CA, SCRAM bound to the certificate it presented.
    let url = format!("{base}?sslmode=verify-full&sslrootcert={ca}&channel_binding=require");
    let store = PostgresStore::open(&url).await.unwrap();
    assert!(!store.url().contains(PASSWORD));
    let now = Clock::System.now();
    let entry = store
        .revoke(&Revocation::new(Scope::Token, "over-tls", now, now + 60))
        .await
        .unwrap();
    assert_eq!(store.list().await.unwrap(), vec![entry]);
    let encrypted = server.psql(
        "tls",
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE s.ssl AND a.application_name = 'tollgate'",
    );
    assert_ne!(encrypted, "0", "the store's connections use TLS");
    // The feed's own connection is TLS too.
    let mut feed = store.subscribe(Duration::from_millis(50)).await.unwrap();
    assert!(feed.next().await.unwrap().is_ok());

    // require: encrypted, the certificate not checked.
    PostgresStore::open(&format!("{base}?sslmode=require"))
        .await
        .unwrap();
    // verify-full against the system's roots: the test CA is not one of them.
    let err = PostgresStore::open(&format!("{base}?sslmode=verify-full"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable, "{err}");
    // Plain TCP is refused by the server (hostssl only), and so is a wrong password.
    let err = PostgresStore::open(&base).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable, "{err}");
    let wrong = format!(
        "postgres://{USER}:not-it@127.0.0.1:{}/tls?sslmode=verify-full&sslrootcert={ca}",
        server.port()
    );
    let err = PostgresStore::open(&wrong).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable, "{err}");
    assert!(err.to_string().contains("28P01"), "{err}");
    assert!(!err.to_string().contains("not-it"), "{err}");
}
