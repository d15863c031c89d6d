//! Picks up a changed keyring (and caller credentials file) without a restart, and fails
//! closed when they cannot be read.
//!
//! Every [`Config::with_reload_interval`](super::Config::with_reload_interval) (1 s by default)
//! a blocking task reads `keyring.json` (the manifest, which key changes write last and
//! atomically), `session.key` and the credentials file, and compares their bytes, mode and
//! owner with the last ones seen. The first check runs as soon as the watcher starts and always
//! loads, so a change made between the server's first load and the watcher's start is applied.
//! A changed keyring is reopened with [`Gate::reload_keyring`](crate::Gate::reload_keyring) and
//! swapped in; requests in flight finish with the keyring they started with.
//!
//! Failing closed: while the keyring's files cannot be read (say `sudo tollgate keys retire`
//! rewrote them as root, mode 0600, and the server runs as another user) or cannot be loaded
//! (a corrupt manifest), the gate keeps *no* keyring
//! ([`Gate::set_keyring_failed`](crate::Gate::set_keyring_failed)): every verification,
//! introspection and session request answers 503 (`bad_key`), `/healthz` answers 503 with the
//! reason, each failed check is counted in `tollgate_keyring_reload_errors_total`, and an error
//! is logged when it starts and then at most once a minute. The previous keyring is never kept:
//! a key just retired must not keep verifying. The next good read recovers. Likewise a
//! credentials file that cannot be read, or whose mode lets its group or others in, means no
//! callers (401 for all) until it can be read again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::App;
use super::clients::Clients;

/// How often a failure that lasts is logged again.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// One file as last seen: absent, or its bytes, mode and owner.
#[derive(PartialEq, Eq)]
enum Seen {
    Absent,
    Present { bytes: Vec<u8>, mode: u32, uid: u32 },
}

/// Reads `path`; `Err` names the file and the I/O error (never the contents).
fn look(path: &Path) -> Result<Seen, String> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Seen::Absent),
        Err(e) => return Err(format!("{name} cannot be read ({})", e.kind())),
    };
    match crate::keys::read_regular(path) {
        Ok(bytes) => Ok(Seen::Present {
            bytes,
            mode: meta.mode(),
            uid: meta.uid(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Seen::Absent),
        Err(e) => Err(format!("{name} cannot be read ({})", e.kind())),
    }
}

/// A set of files watched together, with the state of its failure (if any).
struct Watched {
    paths: Vec<PathBuf>,
    /// `None` until the first check, which therefore always loads.
    last: Option<Vec<Seen>>,
    failing: bool,
    logged: Option<Instant>,
}

impl Watched {
    fn new(paths: Vec<PathBuf>) -> Self {
        Watched {
            paths,
            last: None,
            failing: false,
            logged: None,
        }
    }

    fn look(&self) -> Result<Vec<Seen>, String> {
        self.paths.iter().map(|p| look(p)).collect()
    }

    /// Whether a failure should be logged now: when it starts, then once per [`LOG_EVERY`].
    fn should_log(&mut self) -> bool {
        let now = Instant::now();
        let due = !self.failing
            || self
                .logged
                .is_none_or(|t| now.duration_since(t) >= LOG_EVERY);
        if due {
            self.logged = Some(now);
        }
        due
    }

    fn failed(&mut self) {
        self.failing = true;
        self.last = None;
    }

    fn recovered(&mut self, seen: Vec<Seen>) -> bool {
        let was = self.failing;
        self.failing = false;
        self.logged = None;
        self.last = Some(seen);
        was
    }
}

/// Starts the watcher; abort the handle to stop it. Its first check runs at once.
pub(crate) fn spawn(app: App) -> JoinHandle<()> {
    let interval = app.config().reload_interval;
    tokio::spawn(async move {
        let keyring = app
            .gate()
            .keyring_dir()
            // serve-http: an in-memory keyring (serve --demo) has no file to watch.
            .filter(|_| !app.gate().keyring().is_ok_and(|k| k.is_in_memory()))
            .map(|dir| Watched::new(vec![dir.join("keyring.json"), dir.join("session.key")]));
        let clients = app
            .config()
            .clients_file
            .clone()
            .map(|p| Watched::new(vec![p]));
        let mut state = (keyring, clients, true);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let app = app.clone();
            let checked = tokio::task::spawn_blocking(move || {
                check(&app, &mut state);
                state.2 = false;
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

fn check(app: &App, (keyring, clients, first): &mut (Option<Watched>, Option<Watched>, bool)) {
    if let Some(w) = keyring {
        check_keyring(app, w, *first);
    }
    if let Some(w) = clients {
        check_clients(app, w);
    }
}

fn check_keyring(app: &App, w: &mut Watched, first: bool) {
    let gate = app.gate();
    // Read before loading: a change after this read is seen by the next check.
    let result = match w.look() {
        Err(reason) => {
            // Fail closed: no keyring at all rather than the previous one.
            gate.set_keyring_failed(reason.clone());
            Err(reason)
        }
        Ok(seen) if w.last.as_ref() == Some(&seen) && !w.failing => Ok(None),
        // A failed reload leaves the gate without a keyring (fail closed).
        Ok(seen) => gate
            .reload_keyring()
            .map(|()| Some(seen))
            .map_err(|e| e.message().to_owned()),
    };
    match result {
        Ok(None) => {}
        Ok(Some(seen)) => {
            let recovered = w.recovered(seen);
            app.metrics().keyring_usable(true);
            let active = gate
                .keyring()
                .ok()
                .and_then(|k| k.active().map(|e| e.kid.clone()))
                .unwrap_or_default();
            if recovered {
                tracing::warn!(active_kid = %active, "keyring readable again: verification resumed");
            }
            if !first || recovered {
                let generation = app.metrics().keyring_reloaded();
                tracing::info!(generation, active_kid = %active, "keyring reloaded");
            }
        }
        Err(reason) => {
            app.metrics().keyring_reload_failed();
            app.metrics().keyring_usable(false);
            if w.should_log() {
                tracing::error!(
                    error = %reason,
                    "keyring cannot be loaded: every verification answers 503 (bad_key) until it can; \
                     run tollgate's key commands as the user the server runs as"
                );
            }
            w.failed();
        }
    }
}

fn check_clients(app: &App, w: &mut Watched) {
    let result = w.look().and_then(|seen| {
        if w.last.as_ref() == Some(&seen) && !w.failing {
            return Ok(None);
        }
        Clients::load(&w.paths[0])
            .map(|loaded| Some((loaded, seen)))
            .map_err(|e| e.message().to_owned())
    });
    match result {
        Ok(None) => {}
        Ok(Some((loaded, seen))) => {
            tracing::info!(callers = loaded.ids().len(), "caller credentials loaded");
            app.set_clients(loaded);
            w.recovered(seen);
        }
        Err(reason) => {
            // Fail closed: no callers rather than the previous ones (one may just have been
            // removed).
            app.set_clients_failed();
            app.metrics().callers_reload_failed();
            if w.should_log() {
                tracing::error!(
                    error = %reason,
                    "caller credentials cannot be read: every caller is refused (401) until they can"
                );
            }
            w.failed();
        }
    }
}
