//! Every Lua script of the Redis store, from one source: the helpers (a constant-time digest
//! comparison, and the revocation merge that every script writing a revocation uses) are
//! written once and prefixed to the scripts that need them.

use std::sync::LazyLock;

use redis::Script;

/// Lua helpers shared by the scripts: a constant-time digest comparison and the revocation
/// merge of the revoke script (later `revoked_at`, later expiry).
const HELPERS: &str = r"
local function eq(a, b)
  if type(a) ~= 'string' or type(b) ~= 'string' or #a ~= #b then return false end
  local d = 0
  for i = 1, #a do d = bit.bor(d, bit.bxor(string.byte(a, i), string.byte(b, i))) end
  return d == 0
end
local function revoke(key, at, ttl)
  local rev = tonumber(at)
  local cur = redis.call('GET', key)
  if cur then
    local c = tonumber(cur)
    if c and c > rev then rev = c end
    local value = string.format('%d', rev)
    if redis.call('PTTL', key) > ttl * 1000 then
      redis.call('SET', key, value, 'KEEPTTL')
    else
      redis.call('SET', key, value, 'EX', ttl)
    end
  else
    redis.call('SET', key, string.format('%d', rev), 'EX', ttl)
  end
end
";

/// The rotation: [`Rotation::apply`] in Lua.
/// KEYS = family, session revocation key;
/// ARGV = now, generation, hash, next hash, sealed, grace, revocation ttl, channel, message.
const ROTATE_SRC: &str = r"
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'gen', 'h', 'ph', 'rot', 'exp', 'abs', 'win', 'end')
if not f[1] or f[8] or tonumber(f[5]) <= now or redis.call('EXISTS', KEYS[2]) == 1 then
  return {'unknown', {}}
end
local gen = tonumber(f[1])
local presented = tonumber(ARGV[2])
if presented == gen and eq(ARGV[3], f[2]) then
  local exp = math.min(now + tonumber(f[7]), tonumber(f[6]))
  redis.call('HSET', KEYS[1], 'gen', string.format('%d', gen + 1), 'ph', f[2], 'h', ARGV[4],
    'sl', ARGV[5], 'rot', ARGV[1], 'lu', ARGV[1], 'exp', string.format('%d', exp))
  redis.call('EXPIRE', KEYS[1], math.max(exp - now, 1))
  return {'rotated', redis.call('HGETALL', KEYS[1])}
end
local grace = tonumber(ARGV[6])
if presented + 1 == gen and eq(ARGV[3], f[3]) and grace > 0 and now - tonumber(f[4]) <= grace then
  return {'grace', redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 'end', ARGV[1])
revoke(KEYS[2], ARGV[1], tonumber(ARGV[7]))
redis.call('PUBLISH', ARGV[8], ARGV[9])
return {'reused', redis.call('HGETALL', KEYS[1])}
";

/// Ends one session. KEYS = family, session revocation key;
/// ARGV = now, sub ('' for any), revocation ttl, channel, message.
const END_SRC: &str = r"
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'sub', 'exp', 'end')
if not f[1] or (ARGV[2] ~= '' and f[1] ~= ARGV[2]) then return {'none', {}} end
local live = (not f[3]) and tonumber(f[2]) > now
if live then redis.call('HSET', KEYS[1], 'end', ARGV[1]) end
revoke(KEYS[2], ARGV[1], tonumber(ARGV[3]))
redis.call('PUBLISH', ARGV[4], ARGV[5])
if live then return {'ended', redis.call('HGETALL', KEYS[1])} end
return {'none', {}}
";

/// Creates a family. KEYS = family; ARGV = ttl, then field, value pairs.
const CREATE_SRC: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
";

/// Adds a sid to a user's index. KEYS = index; ARGV = now, absolute expiry, sid, ttl.
const INDEX_SRC: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return 1
";

/// Stores one revocation: the merge of [`HELPERS`], then a `PUBLISH` to replicas.
/// KEYS[1] = key; ARGV = revoked_at, ttl seconds, channel, message.
const REVOKE_SRC: &str = r"
revoke(KEYS[1], ARGV[1], tonumber(ARGV[2]))
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
";

/// [`REVOKE_SRC`] with its helpers.
pub(super) static REVOKE: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{HELPERS}{REVOKE_SRC}")));
/// [`ROTATE_SRC`] with its helpers.
pub(super) static ROTATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{HELPERS}{ROTATE_SRC}")));
/// [`END_SRC`] with its helpers.
pub(super) static END: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{HELPERS}{END_SRC}")));
/// [`CREATE_SRC`].
pub(super) static CREATE: LazyLock<Script> = LazyLock::new(|| Script::new(CREATE_SRC));
/// [`INDEX_SRC`].
pub(super) static INDEX: LazyLock<Script> = LazyLock::new(|| Script::new(INDEX_SRC));
