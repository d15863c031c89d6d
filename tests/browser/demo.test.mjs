// The demo page of `tollgate serve --demo` in headless Chromium, driven by playwright-core.
//
// Run by `cargo test` (tests/browser.rs), or by hand after `cargo build -p tollgate-cli`:
//   npm ci --prefix tests/browser && node tests/browser/demo.test.mjs
//
// Environment: TOLLGATE_BIN (default <target>/debug/tollgate), CHROMIUM (default
// /usr/bin/chromium), TOLLGATE_BROWSER_OUT (screenshots; default tests/browser/out).
//
// It starts its own server on 127.0.0.1:0, pointed at a keyring directory and a SQLite store
// that --demo must leave alone (it signs with a key generated in memory and keeps sessions in
// the memory: store; nothing is created there), then: signs in with remember-me; checks the
// cookies (HttpOnly, Secure kept on http://127.0.0.1, both __Host- on Path=/, the refresh
// cookie persistent and SameSite=Strict);
// waits through an automatic refresh (new jti and exp, same session); signs the same user in on
// a second browser without remember-me (a browser-session refresh cookie); opens a second tab of
// the first browser and clicks "Log out everywhere"; and sees the first tab and the other
// browser lose their sessions. Every wait is bounded; no sleep is an assertion.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const bin = process.env.TOLLGATE_BIN || path.join(targetDir, 'debug', 'tollgate');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const outDir = process.env.TOLLGATE_BROWSER_OUT || path.join(here, 'out');

// Long enough for one automatic refresh of a 30 s access token (at 20 s) with room to spare.
const REFRESH_PATIENCE_MS = 60_000;
const STEP_MS = 15_000;

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function step(text) {
  console.log(`ok: ${text}`);
}

/** Starts `tollgate serve --demo` and resolves with {child, base, log(), kid}. */
function startServer(dir) {
  for (const [what, file] of [['tollgate binary', bin], ['chromium', chromiumPath]]) {
    if (!fs.existsSync(file)) throw new Error(`${what} not found at ${file}`);
  }
  const env = { ...process.env, TOLLGATE_LOG: 'info' };
  for (const name of Object.keys(env)) {
    if (name.startsWith('TOLLGATE_') && name !== 'TOLLGATE_LOG') delete env[name];
  }
  const child = spawn(
    bin,
    [
      '--keys', path.join(dir, 'keys'),
      '--store', `sqlite:${path.join(dir, 'tollgate.db')}`,
      'serve', '--demo', '--listen', '127.0.0.1:0',
      '--clients', path.join(dir, 'no-clients'),
    ],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const log = () => stderr;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tollgate serve printed no address within 30 s; stderr:\n${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tollgate serve exited early (${code}); stderr:\n${stderr}`));
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const addr = /listening on http:\/\/(\S+)/.exec(stderr);
      if (addr) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        const kid = /one EdDSA key, kid ([^\s,]+)/.exec(stderr);
        resolve({ child, base: `http://${addr[1]}`, log, kid: kid && kid[1] });
      }
    });
  });
}

/** A fresh Chromium profile (its own --user-data-dir): one "browser" of a user. */
async function browser(dir, name, errors) {
  const profile = fs.mkdtempSync(path.join(dir, `chromium-${name}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ARGS,
    viewport: { width: 1000, height: 1250 },
  });
  context.on('page', (page) => watch(page, `${name}/${context.pages().length}`, errors));
  for (const page of context.pages()) watch(page, `${name}/0`, errors);
  return context;
}

function watch(page, name, errors) {
  page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|403)/.test(m.text())) {
      errors.push(`${name} console: ${m.text()}`);
    }
  });
}

const state = (page) => page.locator('#state').getAttribute('data-state');
const text = (page, id) => page.locator(`#${id}`).textContent();

async function waitForState(page, wanted, timeout = STEP_MS) {
  await page.locator(`#state[data-state="${wanted}"]`).waitFor({ timeout });
}

/** GET /session/me from inside the page (its cookies; the script never reads them). */
async function me(page) {
  return page.evaluate(async () => {
    const r = await fetch('/session/me', { cache: 'no-store' });
    return { status: r.status, body: await r.json() };
  });
}

async function signIn(page, user, remember) {
  await waitForState(page, 'signed-out');
  await page.fill('#user', user);
  if (remember) await page.check('#remember');
  await page.click('#signin-button');
  await waitForState(page, 'signed-in');
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-browser-'));
  fs.mkdirSync(outDir, { recursive: true });
  const errors = [];
  const server = await startServer(dir);
  const contexts = [];
  try {
    const { base } = server;
    assert.match(server.log(), /DEMO MODE/, 'the startup warning says DEMO');
    assert.ok(server.kid, `serve --demo names its in-memory key:\n${server.log()}`);
    assert.match(server.log(), /generated in memory and never written to disk/);
    for (const left of ['keys', 'tollgate.db']) {
      assert.ok(!fs.existsSync(path.join(dir, left)), `--demo created nothing: ${left}`);
    }
    step(`serve --demo on ${base} signs with a key generated in memory (kid ${server.kid}); nothing written`);

    // 1. Sign in with remember-me.
    const first = await browser(dir, 'first', errors);
    contexts.push(first);
    const tab1 = first.pages()[0] || (await first.newPage());
    await tab1.goto(`${base}/`);
    assert.match(await text(tab1, 'demo-banner'), /DEMO/);
    await signIn(tab1, 'alice', true);
    const before = await me(tab1);
    assert.equal(before.status, 200);
    assert.equal(before.body.sub, 'alice');
    assert.equal(before.body.kid, server.kid, 'signed by the key serve --demo generated');
    assert.equal(before.body.claims.aud, 'tollgate-demo', "the demo's audience");
    assert.equal(before.body.exp - before.body.iat, 30, '--demo sets a 30 s access token');
    assert.equal(before.body.session.remember_me, true);
    assert.equal(await text(tab1, 'kid'), server.kid, 'the page shows the kid');
    assert.equal(await text(tab1, 'jti'), before.body.jti, 'the page shows the jti');
    assert.equal(await tab1.evaluate(() => document.cookie), '', 'the script sees no cookie');
    step('signed in with remember-me; the page shows claims, kid and countdown');

    // Secure cookies on http://127.0.0.1: Chromium keeps them (a potentially trustworthy origin).
    const cookies = await first.cookies();
    const access = cookies.find((c) => c.name === '__Host-tollgate-access');
    const refresh = cookies.find((c) => c.name === '__Host-tollgate-refresh');
    assert.ok(access && refresh, `both cookies kept: ${JSON.stringify(cookies.map((c) => c.name))}`);
    assert.deepEqual(
      [access.secure, access.httpOnly, access.path, access.sameSite],
      [true, true, '/', 'Lax'],
    );
    assert.deepEqual(
      [refresh.secure, refresh.httpOnly, refresh.path, refresh.sameSite],
      [true, true, '/', 'Strict'],
    );
    assert.ok(refresh.expires > Date.now() / 1000 + 29 * 86400, 'remember-me: a persistent refresh cookie');
    step('Chromium kept both __Host- cookies on http://127.0.0.1 (HttpOnly, Secure, Path=/)');

    // 2. An automatic refresh: new access token (jti, exp), same session.
    await tab1.waitForFunction(
      (jti) => document.getElementById('jti').textContent !== jti,
      before.body.jti,
      { timeout: REFRESH_PATIENCE_MS, polling: 250 },
    );
    const after = await me(tab1);
    assert.equal(after.status, 200);
    assert.notEqual(after.body.jti, before.body.jti, 'a new jti');
    assert.ok(after.body.exp > before.body.exp, 'a later exp');
    assert.equal(after.body.sid, before.body.sid, 'the same session');
    assert.ok(after.body.session.generation >= 2, 'the refresh token rotated');
    assert.ok(Number(await text(tab1, 'refreshes')) >= 1);
    const rotated = (await first.cookies()).find((c) => c.name === '__Host-tollgate-refresh');
    assert.notEqual(rotated.value, refresh.value, 'a new refresh cookie');
    await tab1.screenshot({ path: path.join(outDir, 'demo.png'), fullPage: true });
    step(`automatic refresh: jti ${before.body.jti.slice(0, 8)}… -> ${after.body.jti.slice(0, 8)}…, exp +${after.body.exp - before.body.exp} s`);

    // 3. Another browser (another device): the same user, not remembered.
    const other = await browser(dir, 'other', errors);
    contexts.push(other);
    const device = other.pages()[0] || (await other.newPage());
    await device.goto(`${base}/`);
    await signIn(device, 'alice', false);
    const deviceMe = await me(device);
    assert.notEqual(deviceMe.body.sid, after.body.sid, 'a second session');
    const sessionCookie = (await other.cookies()).find((c) => c.name === '__Host-tollgate-refresh');
    assert.equal(sessionCookie.expires, -1, 'without remember-me: a browser-session refresh cookie');
    step('a second browser signed alice in without remember-me (browser-session refresh cookie)');

    // 4. A second tab of the first browser shares its session; log out everywhere from there.
    const tab2 = await first.newPage();
    await tab2.goto(`${base}/`);
    await waitForState(tab2, 'signed-in');
    assert.equal(await text(tab2, 'sid'), after.body.sid, 'the second tab shows the same session');
    await tab2.click('#logout-all');
    await waitForState(tab2, 'signed-out');
    assert.match(await text(tab2, 'reason'), /everywhere \(2 session/);
    step('"Log out everywhere" in a second tab ended both sessions');

    // 5. The first tab and the other browser lose their sessions.
    await waitForState(tab1, 'signed-out');
    step(`the first tab shows "signed out": ${await text(tab1, 'reason')}`);
    await waitForState(device, 'signed-out');
    const reason = await text(device, 'reason');
    assert.match(reason, /revoked/, 'the other browser still had its cookies: the server refused them');
    await device.screenshot({ path: path.join(outDir, 'demo-revoked.png'), fullPage: true });
    const left = (await other.cookies()).map((c) => c.name);
    assert.deepEqual(left, [], 'the failed refresh cleared its cookies');
    step(`the other browser shows "signed out": ${reason}`);

    // 6. The service counted it all.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const line of [
      'tollgate_session_events_total{event="login"} 2',
      'tollgate_session_events_total{event="logout_all"} 1',
    ]) {
      assert.ok(metrics.split('\n').includes(line), `metrics: ${line}`);
    }
    assert.deepEqual(errors, [], 'no script errors');
    step(`screenshots in ${outDir}`);
  } catch (e) {
    console.error(`server stderr:\n${server.log()}`);
    if (errors.length) console.error(`page errors:\n${errors.join('\n')}`);
    throw e;
  } finally {
    for (const context of contexts) await context.close().catch(() => {});
    server.child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => console.log('demo page: all checks passed'),
  (e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exitCode = 1;
  },
);
