//! A rate limit's counts shared through Redis (`store = "redis"`), so
//! that several gateway instances hold one limit together.
//!
//! Both modes keep GCRA's state, the key's theoretical arrival time
//! (TAT), in one Redis key per limit key (`weir:rl:NAME:HASH`), on Redis's
//! clock (`TIME` inside the script), so the instances' clocks never meet:
//!
//! - `exact`: every request runs one script (a call out of the core; the
//!   exchange parks for the round trip): admitted iff the shared TAT
//!   allows it, as Envoy's and Kong's Redis limits do. Combined admissions
//!   over any window of `D` seconds stay within `rate × D + burst`.
//! - `local-first`: requests are decided by the instance's own GCRA, with
//!   no round trip; every `sync_ms` a background task adds each key's
//!   admissions since the last sync to the shared TAT and raises the local
//!   TAT to the shared one. Each instance may admit what the others
//!   admitted since their last sync, plus its own burst when it first sees
//!   a key: over `D` seconds, `n` instances admit at most
//!   `rate × D + burst + (n − 1) × (burst + rate × sync_ms / 1000)`.
//!
//! When Redis cannot be reached or answers too late, `on_store_error`
//! decides: `allow` (the default; `local-first` still limits per
//! instance) or `deny` (503). Such requests carry the access-log note
//! `rate-limit store unavailable: ...` and count in
//! `weir_store_errors_total`; recovery needs no restart.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::gcra::{Gcra, Verdict};
use crate::call::{resp, Call, Reply};
use crate::config::redis::Redis;

/// The script: `KEYS[1]` the limit key; `ARGV` the interval and the
/// tolerance (µs) and `n`: 0 to decide one request (exact), else the
/// number of requests admitted elsewhere to add (local-first sync).
/// Returns `{1, TAT − now}` when admitted (or added), `{0, wait}` when not.
const SCRIPT: &str = "\
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if n == 0 then
  if tat - now > tolerance then return {0, tat - now - tolerance} end
  tat = tat + interval
else
  tat = tat + n * interval
end
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
return {1, tat - now}
";

/// The script's SHA-1, hex (computed once).
static SCRIPT_SHA: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn script_sha() -> String {
    use sha1::Digest;
    sha1::Sha1::digest(SCRIPT.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How a call names the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// `EVALSHA`: 40 bytes instead of the script (Redis caches scripts).
    Sha,
    /// `EVAL` with the text (after `NOSCRIPT`: Redis restarted or flushed).
    Text,
}

/// What an exact call's reply says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decided {
    /// Redis decided.
    Verdict(Verdict),
    /// Redis does not know the script yet: ask again with its text.
    LoadScript,
    /// No usable reply (down, slow, malformed).
    Unusable,
}

/// How the counts are shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One script per request.
    Exact,
    /// Local decisions, synchronised this often.
    LocalFirst(Duration),
}

/// What a request gets when the store cannot be asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStoreError {
    /// Admitted (local-first: by the local limit alone).
    Allow,
    /// Refused with 503.
    Deny,
}

/// Most keys one sync carries (a call has at most 255 replies).
const BATCH: usize = 200;
/// Cells of the admissions not yet synchronised.
const PENDING: usize = 16_384;
/// Cells looked at per key.
const PROBES: usize = 4;

/// The Redis side of one rate limit.
pub struct RedisStore {
    redis: Redis,
    /// How counts are shared.
    pub mode: Mode,
    /// What happens when Redis is out of reach.
    pub on_error: OnStoreError,
    prefix: String,
    /// local-first: (key hash, admissions since the last sync).
    pending: Box<[(AtomicU64, AtomicU32)]>,
    /// local-first: the last sync failed.
    down: AtomicBool,
}

/// Keys and counts a sync carried (given back if it fails).
pub type Pushed = Vec<(u64, u32)>;

impl RedisStore {
    /// A store for the limit named `name`.
    pub fn new(redis: Redis, name: &str, mode: Mode, on_error: OnStoreError) -> RedisStore {
        let cells = match mode {
            Mode::Exact => 0,
            Mode::LocalFirst(_) => PENDING,
        };
        RedisStore {
            redis,
            mode,
            on_error,
            prefix: format!("weir:rl:{name}:"),
            pending: (0..cells)
                .map(|_| (AtomicU64::new(0), AtomicU32::new(0)))
                .collect(),
            down: AtomicBool::new(false),
        }
    }

    /// How long a call may take.
    pub fn timeout(&self) -> Duration {
        self.redis.timeout
    }

    /// The script's run for `key`: by its SHA-1 (`EVALSHA`, what Redis
    /// caches it by) or with its text (`EVAL`).
    fn script(&self, key: u64, gcra: &Gcra, n: u32, by: Script) -> Bytes {
        let (interval, tolerance) = gcra.interval_and_tolerance();
        let name = format!("{}{key:016x}", self.prefix);
        let (verb, body): (&[u8], &[u8]) = match by {
            Script::Sha => (b"EVALSHA", SCRIPT_SHA.get_or_init(script_sha).as_bytes()),
            Script::Text => (b"EVAL", SCRIPT.as_bytes()),
        };
        resp::command(&[
            verb,
            body,
            b"1",
            name.as_bytes(),
            interval.to_string().as_bytes(),
            tolerance.to_string().as_bytes(),
            n.to_string().as_bytes(),
        ])
    }

    /// exact: the call deciding one request of `key` (`by` the script's
    /// SHA-1 first; its text once Redis says it does not know it).
    pub fn decide(&self, key: u64, gcra: &Gcra, by: Script) -> Call {
        self.redis.call(&self.script(key, gcra, 0, by), 1)
    }

    /// exact: what a reply says.
    pub fn verdict(&self, reply: &Reply, gcra: &Gcra) -> Decided {
        let Reply::Done(bytes) = reply else {
            return Decided::Unusable;
        };
        let Ok(values) = resp::values(bytes) else {
            return Decided::Unusable;
        };
        match self.redis.skip_prelude(&values).first() {
            Some(resp::Value::Error(e)) if e.starts_with("NOSCRIPT") => Decided::LoadScript,
            Some(v) => match pair(v) {
                Some((admitted, us)) => Decided::Verdict(gcra.verdict(admitted, us)),
                None => Decided::Unusable,
            },
            None => Decided::Unusable,
        }
    }

    /// local-first: `key` was admitted here.
    pub fn admitted(&self, key: u64) {
        self.add(key, 1);
    }

    /// local-first: `n` admissions of `key` to tell Redis about.
    fn add(&self, key: u64, n: u32) {
        let key = key.max(1);
        let start = (key as usize) % self.pending.len().max(1);
        for i in 0..PROBES.min(self.pending.len()) {
            let (k, count) = &self.pending[(start + i) % self.pending.len()];
            let held = k.load(Ordering::Acquire);
            if held == key
                || (held == 0
                    && k.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok())
            {
                count.fetch_add(n, Ordering::AcqRel);
                return;
            }
        }
        // Every cell near the key holds another: this admission is not
        // shared (the others may admit that much more).
    }

    /// local-first: the last sync failed.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// local-first: the next sync's call, with what it carries; `None`
    /// when nothing was admitted since the last one.
    pub fn push(&self, gcra: &Gcra) -> Option<(Call, Pushed)> {
        let mut carried = Vec::new();
        let mut request = bytes::BytesMut::new();
        for (k, n) in self.pending.iter() {
            if carried.len() == BATCH {
                break;
            }
            if n.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let key = k.swap(0, Ordering::AcqRel);
            let count = n.swap(0, Ordering::AcqRel);
            if key == 0 || count == 0 {
                continue;
            }
            request.extend_from_slice(&self.script(key, gcra, count, Script::Text));
            carried.push((key, count));
        }
        if carried.is_empty() {
            return None;
        }
        Some((self.redis.call(&request, carried.len() as u8), carried))
    }

    /// local-first: the reply to a sync: each key's local TAT is raised
    /// to the shared one; a failed sync gives its counts back.
    pub fn pulled(&self, pushed: Pushed, reply: &Reply, gcra: &Gcra, now: Instant) {
        let values = match reply {
            Reply::Done(b) => resp::values(b).ok(),
            _ => None,
        };
        let ours = values
            .as_deref()
            .map(|v| self.redis.skip_prelude(v))
            .filter(|v| v.len() == pushed.len());
        let Some(ours) = ours else {
            self.down.store(true, Ordering::Relaxed);
            for (key, count) in pushed {
                self.add(key, count);
            }
            return;
        };
        self.down.store(false, Ordering::Relaxed);
        for ((key, _), v) in pushed.iter().zip(ours) {
            if let Some((true, ahead)) = pair(v) {
                gcra.raise(*key, now, Duration::from_micros(ahead));
            }
        }
    }
}

/// `{admitted, µs}` from the script.
fn pair(v: &resp::Value) -> Option<(bool, u64)> {
    match v {
        resp::Value::Array(items) => match items.as_slice() {
            [resp::Value::Integer(a), resp::Value::Integer(us)] => {
                Some((*a == 1, (*us).max(0) as u64))
            }
            _ => None,
        },
        _ => None,
    }
}
