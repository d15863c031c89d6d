// The tollgate demo page. It never sees a token: both cookies are HttpOnly. It learns about its
// session from GET /session/me (the verified claims of the access cookie), refreshes through
// POST /session/refresh (the refresh cookie) once a third of the access token's life is left,
// and notices within a second when its session is revoked elsewhere.
'use strict';

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

let me = null; // the last /session/me answer; null when signed out
let skew = 0; // the server's clock minus this one, in seconds
let refreshing = null; // the refresh in flight, shared by every caller
let refreshes = 0;
let firstCheck = true;
let epoch = 0; // bumped by sign-in and log-out, so that a check in flight across one is dropped

const serverNow = () => Date.now() / 1000 + skew;
const fmt = (t) => new Date(t * 1000).toLocaleTimeString();
const short = (s) => (s ? String(s).slice(0, 8) + '…' : '?');
const refreshAt = (m) => m.exp - (m.exp - m.iat) / 3;

const WORDS = {
  missing_token: 'no token (its cookie is gone)',
  revoked: 'revoked',
  expired: 'expired',
  unknown_session: 'its session has ended',
  reused_refresh_token: 'reused, so the session was revoked',
  store_unavailable: 'the store is unavailable',
  network_error: 'the server cannot be reached',
};
const word = (kind) => WORDS[kind] || kind || 'unknown error';

function log(text) {
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  li.append(time, text);
  $('log').prepend(li);
}

// A same-origin request; answers {status, body, kind} (kind: the error kind of a refusal).
async function call(method, path, fields) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (fields) {
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(fields).toString();
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    return { status: 0, body: null, kind: 'network_error' };
  }
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    // not JSON
  }
  let kind = null;
  if (!response.ok && body) {
    // Every error answer is {"error": <OAuth code>, "error_description", "kind": <tollgate kind>}.
    kind = body.kind || body.error || null;
  }
  return { status: response.status, body, kind };
}

function setState(state, text, reason) {
  const el = $('state');
  el.dataset.state = state;
  el.textContent = text;
  $('reason').textContent = reason || '';
  $('session').hidden = state !== 'signed-in';
  $('signin').hidden = state !== 'signed-out';
}

function signedOut(reason) {
  const was = me !== null;
  me = null;
  setState('signed-out', 'signed out', reason);
  if (was) log('Signed out: ' + reason);
}

function show(m) {
  const previous = me;
  me = m;
  skew = m.now - Date.now() / 1000;
  if (previous === null) setState('signed-in', 'signed in', '');
  $('sub').textContent = m.sub;
  $('sid').textContent = m.sid || '(none)';
  $('jti').textContent = m.jti;
  $('kid').textContent = m.kid || '(none)';
  $('alg').textContent = `(${m.alg}, key ${m.key_state})`;
  $('times').textContent = `${fmt(m.iat)} · ${fmt(m.exp)} (lifetime ${m.exp - m.iat} s)`;
  const s = m.session;
  $('remembered').textContent = !s
    ? '?'
    : s.remember_me
      ? 'yes: the refresh cookie is persistent'
      : 'no: the refresh cookie ends with the browser';
  $('refresh-info').textContent = !s
    ? '?'
    : `generation ${s.generation}; works until ${new Date(s.expires_at * 1000).toLocaleString()} unless used`;
  $('claims').textContent = JSON.stringify(m.claims, null, 2);
  $('refreshes').textContent = String(refreshes);
  if (previous === null) {
    log(`Session ${short(m.sid)} of ${m.sub}: access token ${short(m.jti)}, signed by ${short(m.kid)}`);
  } else if (previous.jti !== m.jti) {
    log(`New access token ${short(m.jti)} (was ${short(previous.jti)}), expires ${fmt(m.exp)}`);
  }
  tick();
}

function tick() {
  if (!me) return;
  const lifetime = me.exp - me.iat;
  const left = me.exp - serverNow();
  $('countdown').textContent = left > 0 ? `${Math.ceil(left)} s` : 'expired';
  $('bar').value = Math.max(0, Math.min(1, left / lifetime));
  $('refresh-at').textContent = 'at ' + fmt(refreshAt(me));
}

// One refresh at a time: every caller waits for the same one.
function refresh(why) {
  if (!refreshing) {
    refreshing = (async () => {
      const r = await call('POST', '/session/refresh');
      if (r.status === 200) {
        refreshes += 1;
        log(`Refreshed (${why}): refresh token rotated, new access token for ${r.body.expires_in} s`);
      } else if (r.kind !== 'missing_token') {
        log(`Refresh (${why}) refused: ${word(r.kind)}`);
      }
      return r;
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function check() {
  const wasFirst = firstCheck;
  firstCheck = false;
  const started = epoch;
  const r = await call('GET', '/session/me');
  if (started !== epoch) return;
  if (r.status === 200) {
    show(r.body);
    if (serverNow() >= refreshAt(r.body)) {
      const f = await refresh('automatic');
      if (f.status === 200) {
        const again = await call('GET', '/session/me');
        if (again.status === 200) show(again.body);
      }
    }
    return;
  }
  if (r.status === 401) {
    // The access token is gone, expired or revoked. When this page had a session (or has just
    // opened), the refresh cookie may still hold one.
    if (me === null && !wasFirst) return;
    const f = await refresh(wasFirst ? 'resuming' : 'recovering');
    if (started !== epoch) return;
    if (f.status === 200) {
      const again = await call('GET', '/session/me');
      if (again.status === 200) {
        show(again.body);
        return;
      }
    }
    if (f.status === 503) {
      $('reason').textContent = 'The store is unavailable; retrying.';
      return;
    }
    let why = 'not signed in';
    if (me !== null && r.kind === 'missing_token' && f.kind === 'missing_token') {
      why = 'the cookies were cleared (logged out in another tab of this browser)';
    } else if (me !== null) {
      why = `the session was ended elsewhere (access token: ${word(r.kind)}; refresh token: ${word(f.kind)})`;
    }
    signedOut(why);
    return;
  }
  // 503 or no answer: keep what is shown, say why, try again.
  $('reason').textContent = `${word(r.kind)}; retrying…`;
}

async function poll() {
  try {
    await check();
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// Log out (path /session/logout) or log out everywhere (/session/logout-all).
async function end(path, what) {
  epoch += 1;
  let r = await call('POST', path);
  if (r.status === 401 && r.kind === 'missing_token') {
    // The access cookie ran out while the page slept: renew it, then try again.
    const f = await refresh(`before ${what}`);
    if (f.status === 200) r = await call('POST', path);
  }
  epoch += 1;
  if (r.status === 200) {
    signedOut(
      r.body.ended === undefined
        ? 'you logged out'
        : `you logged out everywhere (${r.body.ended} session(s) ended, every token of ${r.body.sub} revoked)`,
    );
  } else {
    $('reason').textContent = `${what} failed: ${word(r.kind)}`;
  }
}

async function signIn(event) {
  event.preventDefault();
  const sub = $('user').value.trim();
  const remember = $('remember').checked;
  epoch += 1;
  const r = await call('POST', '/demo/login', { sub, remember_me: remember ? '1' : '0' });
  epoch += 1;
  if (r.status !== 200) {
    $('reason').textContent =
      'Sign-in failed: ' + ((r.body && r.body.error_description) || word(r.kind));
    return;
  }
  log(`Signed in as ${sub} (${remember ? 'remembered' : 'not remembered'})`);
  const m = await call('GET', '/session/me');
  if (m.status === 200) {
    show(m.body);
  } else {
    $('reason').textContent =
      'Signed in, but the browser did not keep the cookies: ' + word(m.kind);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('insecure').hidden = window.isSecureContext;
  $('signin-form').addEventListener('submit', signIn);
  $('refresh-now').addEventListener('click', async () => {
    const f = await refresh('by hand');
    if (f.status === 200) await check();
  });
  $('logout').addEventListener('click', () => end('/session/logout', 'log out'));
  $('logout-all').addEventListener('click', () => end('/session/logout-all', 'log out everywhere'));
  setInterval(tick, 250);
  poll();
});
