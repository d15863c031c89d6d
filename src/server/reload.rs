//! Picks up a changed keyring (and caller credentials file) without a restart.
//!
//! Every [`Config::with_reload_interval`](super::Config::with_reload_interval) (1 s by default)
//! a blocking task reads `keyring.json` (the manifest, which key changes write last and
//! atomically) and the credentials file, and compares their bytes with the last ones seen.
//! A changed keyring is reopened with [`Gate::reload_keyring`](crate::Gate::reload_keyring)
//! and swapped in; requests in flight finish with the keyring they started with. A failed
//! reload keeps the previous keyring, is logged once and counted, and is retried every tick.

use std::path::PathBuf;

use tokio::task::JoinHandle;

use super::App;
use super::clients::Clients;

/// A file's last seen contents.
struct Watched {
    path: PathBuf,
    last: Option<Vec<u8>>,
    failing: bool,
}

impl Watched {
    fn new(path: PathBuf) -> Self {
        let last = std::fs::read(&path).ok();
        Watched {
            path,
            last,
            failing: false,
        }
    }

    fn read(&self) -> Option<Vec<u8>> {
        std::fs::read(&self.path).ok()
    }
}

/// Starts the watcher; abort the handle to stop it.
pub(crate) fn spawn(app: App) -> JoinHandle<()> {
    let interval = app.config().reload_interval;
    tokio::spawn(async move {
        let keyring = app
            .gate()
            .keyring()
            .ok()
            // serve-http: an in-memory keyring (serve --demo) has no file to watch.
            .filter(|k| !k.is_in_memory())
            .map(|k| Watched::new(k.dir().join("keyring.json")));
        let clients = app.config().clients_file.clone().map(Watched::new);
        let mut state = (keyring, clients);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let app = app.clone();
            let checked = tokio::task::spawn_blocking(move || {
                check(&app, &mut state);
                state
            })
            .await;
            match checked {
                Ok(s) => state = s,
                Err(_) => return,
            }
        }
    })
}

fn check(app: &App, (keyring, clients): &mut (Option<Watched>, Option<Watched>)) {
    if let Some(w) = keyring {
        let now = w.read();
        if now.is_some() && now != w.last {
            match app.gate().reload_keyring() {
                Ok(()) => {
                    let generation = app.metrics().keyring_reloaded();
                    let active = app
                        .gate()
                        .keyring()
                        .ok()
                        .and_then(|k| k.active().map(|e| e.kid.clone()))
                        .unwrap_or_default();
                    tracing::info!(generation, active_kid = %active, "keyring reloaded");
                    w.last = now;
                    w.failing = false;
                }
                Err(e) => {
                    app.metrics().keyring_reload_failed();
                    if !w.failing {
                        tracing::error!(error = %e, "keyring changed but cannot be reloaded; still using the previous one");
                    }
                    w.failing = true;
                }
            }
        }
    }
    if let Some(w) = clients {
        let now = w.read();
        if now != w.last {
            match Clients::load(&w.path) {
                Ok(loaded) => {
                    tracing::info!(callers = loaded.ids().len(), "caller credentials reloaded");
                    app.set_clients(loaded);
                    w.last = now;
                    w.failing = false;
                }
                Err(e) => {
                    if !w.failing {
                        tracing::error!(error = %e, "caller credentials changed but cannot be read; still using the previous ones");
                    }
                    w.failing = true;
                }
            }
        }
    }
}
