//! The demo page of `tollgate serve --demo` in headless Chromium: runs
//! `node tests/browser/demo.test.mjs` (playwright-core, Debian's `/usr/bin/chromium`), which
//! starts its own server on 127.0.0.1:0 (pointed at a temporary keyring directory and SQLite
//! store that `--demo` must leave untouched: it signs with an in-memory key), signs in with
//! remember-me, waits through an automatic refresh, logs out everywhere from a second tab and
//! sees the other pages lose their sessions. Screenshots land in `tests/browser/out/`.
//!
//! Needs node, chromium and `tests/browser/node_modules` (`./scripts/test` installs them). When
//! one is missing the test fails with the command that installs it; set
//! `TOLLGATE_TEST_SKIP_BROWSER=1` to skip it explicitly.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::serve::tollgate_bin;

#[test]
fn demo_page_signs_in_refreshes_and_loses_its_session_when_logged_out_everywhere() {
    if std::env::var_os("TOLLGATE_TEST_SKIP_BROWSER").is_some_and(|v| v == "1") {
        println!("skipped: TOLLGATE_TEST_SKIP_BROWSER=1");
        eprintln!("skipped: the browser test (TOLLGATE_TEST_SKIP_BROWSER=1)");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let skip = "or set TOLLGATE_TEST_SKIP_BROWSER=1 to skip this test";
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is not installed: run `apt-get install -y nodejs npm` (or ./scripts/test), {skip}"
    );
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "{} does not exist: run `apt-get install -y chromium` (or ./scripts/test), {skip}",
        chromium.display()
    );
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (or ./scripts/test), {skip}"
    );
    let out = Command::new("node")
        .arg(dir.join("demo.test.mjs"))
        .env("TOLLGATE_BIN", tollgate_bin())
        .env("CHROMIUM", &chromium)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("demo page: all checks passed"), "{stdout}");
}
