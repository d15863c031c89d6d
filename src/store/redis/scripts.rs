//! Every Lua script of the Redis store, from one source: the helpers (the store's clock, a
//! constant-time digest comparison, and the revocation merge that every script writing an
//! entry uses) are written once and prefixed to every script.
//!
//! Times inside scripts come from `TIME` (the Redis server's clock), never from a caller: the
//! grace window, session expiry, entry expiry and stamps all follow one clock, whatever clocks
//! the application servers keep.

use std::sync::LazyLock;

use redis::Script;

/// Helpers shared by every script.
///
/// - `now()`: the server's clock in whole seconds (`TIME`).
/// - `eq(a, b)`: digests compared with an XOR-accumulate loop, not `==`.
/// - `revoke(key, rev, exp_at, lifetime, margin, now, stamp)`: the revocation merge (`stamp`,
///   when given, instead of `now` as the entry's stamp). The entry's
///   `expires_at` is `max(exp_at, now + lifetime)` (capped 100 years ahead, so that no `exp`
///   makes an invalid expire time), merged with a live one (the later `revoked_at`, stamp and
///   expiry win); its value is `revoked_at:stamp:expires_at`, and the key is kept `margin`
///   seconds past `expires_at` by the server's clock (the maximum leeway plus 5 minutes, as
///   the other stores purge): verifiers judge expiry by their own clocks against the value, so
///   one whose clock lags the server's still finds it. Always stores; returns
///   `{revoked_at, stamp, expires_at}` as stored.
/// - `publish(channel, hex, e)`: publishes the stored entry `e` to replicas as
///   `<scope><hex digest> <revoked_at> <stamp> <expires_at>`.
const HELPERS: &str = r"
local function now()
  return tonumber(redis.call('TIME')[1])
end
local function eq(a, b)
  if type(a) ~= 'string' or type(b) ~= 'string' or #a ~= #b then return false end
  local d = 0
  for i = 1, #a do d = bit.bor(d, bit.bxor(string.byte(a, i), string.byte(b, i))) end
  return d == 0
end
local function fmt(n) return string.format('%d', n) end
local function revoke(key, rev, exp_at, lifetime, margin, t, stamp0)
  local cap = t + 3153600000
  local exp = math.min(math.max(exp_at, t + lifetime), cap)
  local stamp = stamp0 or t
  local cur = redis.call('GET', key)
  if cur then
    local cr, cs, ce = string.match(cur, '^(-?%d+):(-?%d+):(-?%d+)$')
    cr = tonumber(cr)
    cs = tonumber(cs)
    ce = tonumber(ce)
    if cr and cr > rev then rev = cr end
    if cs and cs > stamp then stamp = cs end
    if ce and ce > exp then exp = ce end
  end
  local exat = math.min(math.max(exp + margin, t + 1), cap + margin)
  redis.call('SET', key, fmt(rev) .. ':' .. fmt(stamp) .. ':' .. fmt(exp), 'EXAT', fmt(exat))
  return {rev, stamp, exp}
end
local function publish(channel, hex, e)
  redis.call('PUBLISH', channel, hex .. ' ' .. fmt(e[1]) .. ' ' .. fmt(e[2]) .. ' ' .. fmt(e[3]))
end
";

/// Stores one entry and publishes it. KEYS[1] = the entry's key;
/// ARGV = revoked_at, expires_at, lifetime, margin, channel, key hex, and optionally the stamp
/// to record instead of the server's clock (only when upgrading entries of the version-1
/// layout, whose only time is their `revoked_at`).
/// Returns `{revoked_at, stamp, expires_at}`.
const REVOKE_SRC: &str = r"
local t = now()
local e = revoke(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), t, tonumber(ARGV[7]))
publish(ARGV[5], ARGV[6], e)
return e
";

/// A user revocation: the entry, then the user's indexed sessions, in ONE step on the user's
/// slot (a login indexes itself on this slot, so it comes either before, and is listed here,
/// or after, and was created after the stamp). KEYS = the user entry, the user's index;
/// ARGV = revoked_at, expires_at, lifetime, margin, channel, key hex.
/// Returns `{{revoked_at, stamp, expires_at}, {sid…}}`.
const REVOKE_USER_SRC: &str = r"
local t = now()
local e = revoke(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), t)
publish(ARGV[5], ARGV[6], e)
local sids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. fmt(t), '+inf')
return {e, sids}
";

/// The rotation: [`Rotation::apply`](crate::store::Rotation::apply) in Lua.
/// KEYS = the session's record, its session entry;
/// ARGV = generation, hash, next hash, sealed, grace, issued_at, access_exp, max leeway,
/// channel, session entry hex.
const ROTATE_SRC: &str = r"
local t = now()
local f = redis.call('HMGET', KEYS[1], 'gen', 'h', 'ph', 'rot', 'exp', 'abs', 'win', 'end', 'ax', 'ud')
if not f[1] or f[8] or tonumber(f[5]) <= t or redis.call('EXISTS', KEYS[2]) == 1 then
  return {'unknown', {}}
end
local gen = tonumber(f[1])
local presented = tonumber(ARGV[1])
if presented == gen and eq(ARGV[2], f[2]) then
  local exp = math.min(t + tonumber(f[7]), tonumber(f[6]))
  local ax = math.max(tonumber(f[9]), tonumber(ARGV[7]))
  redis.call('HSET', KEYS[1], 'gen', fmt(gen + 1), 'ph', f[2], 'h', ARGV[3], 'sl', ARGV[4],
    'rot', fmt(t), 'lu', fmt(t), 'exp', fmt(exp), 'ia', ARGV[6], 'ax', fmt(ax))
  redis.call('HDEL', KEYS[1], 'ud')
  redis.call('EXPIREAT', KEYS[1], fmt(math.max(exp, t + 1)))
  return {'rotated', redis.call('HGETALL', KEYS[1])}
end
local grace = tonumber(ARGV[5])
local within = grace > 0 and t - tonumber(f[4]) <= grace
local undelivered = f[10] and tonumber(f[10]) == gen
if presented + 1 == gen and eq(ARGV[2], f[3]) and (within or undelivered) then
  return {'grace', redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 'end', fmt(t))
local e = revoke(KEYS[2], t, tonumber(f[9]) + tonumber(ARGV[8]) + 1, 0, tonumber(ARGV[8]) + 300, t)
publish(ARGV[9], ARGV[10], e)
return {'reused', redis.call('HGETALL', KEYS[1])}
";

/// Ends one session ([`SessionRecord::end`](crate::store::SessionRecord::end) and its
/// revocation). KEYS = the session's record, its session entry;
/// ARGV = owner ('' for any), max leeway, channel, session entry hex.
/// Returns `{'ended'|'already'|'missing', fields}`.
const END_SRC: &str = r"
local t = now()
local f = redis.call('HMGET', KEYS[1], 'sub', 'exp', 'end', 'ax')
if not f[1] or (ARGV[1] ~= '' and f[1] ~= ARGV[1]) then return {'missing', {}} end
if f[3] or tonumber(f[2]) <= t then return {'already', redis.call('HGETALL', KEYS[1])} end
redis.call('HSET', KEYS[1], 'end', fmt(t))
local e = revoke(KEYS[2], t, tonumber(f[4]) + tonumber(ARGV[2]) + 1, 0, tonumber(ARGV[2]) + 300, t)
publish(ARGV[3], ARGV[4], e)
return {'ended', redis.call('HGETALL', KEYS[1])}
";

/// Indexes a new session under its user and stamps its creation on the user slot's clock.
/// KEYS = the user's index; ARGV = sid, lifetime (seconds). Returns the creation time.
const INDEX_SRC: &str = r"
local t = now()
local abs = t + tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(t))
redis.call('ZADD', KEYS[1], fmt(abs), ARGV[1])
if redis.call('EXPIRETIME', KEYS[1]) < abs then redis.call('EXPIREAT', KEYS[1], fmt(abs)) end
return t
";

/// Creates a session's record. KEYS = the record; ARGV = expiry (Unix seconds), then field,
/// value pairs.
const CREATE_SRC: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return 1
";

/// Marks the current generation's answer undelivered (or delivered again). KEYS = the record;
/// ARGV = generation, 1 for undelivered or 0.
const UNDELIVERED_SRC: &str = r"
if redis.call('HGET', KEYS[1], 'gen') == ARGV[1] then
  if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'ud', ARGV[1]) else redis.call('HDEL', KEYS[1], 'ud') end
end
return 1
";

/// Records the maximum leeway when the store has none yet; it never changes afterwards.
/// KEYS = the settings hash; ARGV = the leeway to record on a new store. Returns the leeway
/// in force.
const MAX_LEEWAY_SRC: &str = r"
redis.call('HSETNX', KEYS[1], 'max_leeway', ARGV[1])
return tonumber(redis.call('HGET', KEYS[1], 'max_leeway'))
";

fn script(source: &str) -> Script {
    Script::new(&format!("{HELPERS}{source}"))
}

/// [`REVOKE_SRC`].
pub(super) static REVOKE: LazyLock<Script> = LazyLock::new(|| script(REVOKE_SRC));
/// [`REVOKE_USER_SRC`].
pub(super) static REVOKE_USER: LazyLock<Script> = LazyLock::new(|| script(REVOKE_USER_SRC));
/// [`ROTATE_SRC`].
pub(super) static ROTATE: LazyLock<Script> = LazyLock::new(|| script(ROTATE_SRC));
/// [`END_SRC`].
pub(super) static END: LazyLock<Script> = LazyLock::new(|| script(END_SRC));
/// [`INDEX_SRC`].
pub(super) static INDEX: LazyLock<Script> = LazyLock::new(|| script(INDEX_SRC));
/// [`CREATE_SRC`].
pub(super) static CREATE: LazyLock<Script> = LazyLock::new(|| script(CREATE_SRC));
/// [`UNDELIVERED_SRC`].
pub(super) static UNDELIVERED: LazyLock<Script> = LazyLock::new(|| script(UNDELIVERED_SRC));
/// [`MAX_LEEWAY_SRC`].
pub(super) static MAX_LEEWAY: LazyLock<Script> = LazyLock::new(|| script(MAX_LEEWAY_SRC));
