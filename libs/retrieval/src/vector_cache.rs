//! The per-process cache of tenants' vectors for [`crate::PgVectorStore`]: a bounded LRU by
//! total bytes (`FLEET_RETRIEVAL_CACHE_MB`, default 256).
//!
//! An entry holds what one tenant's RLS-scoped transaction saw, under the chunk generation that
//! the same statement read (`retrieval_generations`, bumped by triggers in every writing
//! transaction); a search uses it only when the generation it reads now is the same, so a hit
//! is exactly what the database holds. Entries are keyed by the store instance (one service
//! database) and the organisation of the transaction's scope.
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use uuid::Uuid;

use crate::RetrievalError;

/// The bound when `FLEET_RETRIEVAL_CACHE_MB` is unset.
pub const DEFAULT_CACHE_MB: usize = 256;

/// One dimension's vectors of a tenant: row-major `f32`s with parallel key arrays.
#[derive(Debug, Default)]
pub struct Block {
    pub dims: usize,
    pub documents: Vec<Uuid>,
    pub chunks: Vec<i32>,
    pub data: Vec<f32>,
}

/// A tenant's vectors at one generation (a block per dimension: normally just one model's).
#[derive(Debug, Default)]
pub struct TenantVectors {
    pub generation: i64,
    pub blocks: Vec<Block>,
}

impl TenantVectors {
    pub fn new(generation: i64) -> Self {
        TenantVectors {
            generation,
            blocks: Vec::new(),
        }
    }

    /// Appends a stored vector (little-endian `f32` bytes); an empty one is skipped.
    pub fn push(&mut self, document: Uuid, chunk: i32, bytes: &[u8]) {
        let dims = bytes.len() / 4;
        if dims == 0 {
            return;
        }
        let block = match self.blocks.iter().position(|b| b.dims == dims) {
            Some(i) => &mut self.blocks[i],
            None => {
                self.blocks.push(Block {
                    dims,
                    ..Block::default()
                });
                self.blocks.last_mut().expect("just pushed")
            }
        };
        block.documents.push(document);
        block.chunks.push(chunk);
        block.data.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }

    /// Heap bytes held (what the cache bound counts).
    pub fn bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| b.data.capacity() * 4 + b.documents.capacity() * 16 + b.chunks.capacity() * 4)
            .sum::<usize>()
            + std::mem::size_of::<Self>()
    }

    /// Vectors held.
    pub fn len(&self) -> usize {
        self.blocks.iter().map(|b| b.chunks.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A store instance (one database) and an organisation.
pub(crate) type CacheKey = (u64, Uuid);

struct Slot {
    vectors: Option<Arc<TenantVectors>>,
    bytes: usize,
    last_used: u64,
    loading: Arc<futures::lock::Mutex<()>>,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<CacheKey, Slot>,
    used: usize,
    tick: u64,
    loads: u64,
}

/// A bounded cache of tenants' vectors, shared by every clone.
#[derive(Clone)]
pub struct VectorCache {
    capacity: usize,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for VectorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorCache")
            .field("capacity", &self.capacity)
            .field("used", &self.used())
            .finish()
    }
}

static NEXT_STORE: AtomicU64 = AtomicU64::new(1);

/// A fresh store-instance id: two stores (two databases) never share entries.
pub(crate) fn next_store_id() -> u64 {
    NEXT_STORE.fetch_add(1, Ordering::Relaxed)
}

/// Parses a `FLEET_RETRIEVAL_CACHE_MB` value (whole mebibytes; 0 turns caching off).
pub fn parse_cache_mb(value: &str) -> Result<usize, RetrievalError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|mb| mb.checked_mul(1 << 20))
        .ok_or_else(|| {
            RetrievalError::Input(format!(
                "FLEET_RETRIEVAL_CACHE_MB must be a whole number of mebibytes, not {value:?}"
            ))
        })
}

impl VectorCache {
    /// A cache holding at most `capacity_bytes` of vectors.
    pub fn new(capacity_bytes: usize) -> Self {
        VectorCache {
            capacity: capacity_bytes,
            inner: Arc::default(),
        }
    }

    /// A cache bounded by `FLEET_RETRIEVAL_CACHE_MB` (default [`DEFAULT_CACHE_MB`]).
    pub fn from_env() -> Result<Self, RetrievalError> {
        let bytes = match std::env::var("FLEET_RETRIEVAL_CACHE_MB") {
            Ok(v) => parse_cache_mb(&v)?,
            Err(_) => DEFAULT_CACHE_MB << 20,
        };
        Ok(VectorCache::new(bytes))
    }

    /// The process's cache, sized once from the environment; an unusable value is logged and
    /// the default used (a service that wants to refuse it at start calls [`Self::from_env`]).
    pub fn global() -> VectorCache {
        static GLOBAL: OnceLock<VectorCache> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                VectorCache::from_env().unwrap_or_else(|e| {
                    tracing::error!(error = %e, default_mb = DEFAULT_CACHE_MB, "retrieval cache");
                    VectorCache::new(DEFAULT_CACHE_MB << 20)
                })
            })
            .clone()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.lock().used
    }

    /// Tenants whose vectors are held now.
    pub fn tenants(&self) -> usize {
        self.lock()
            .slots
            .values()
            .filter(|s| s.vectors.is_some())
            .count()
    }

    /// Loads from the database so far (misses that streamed a tenant's vectors).
    pub fn loads(&self) -> u64 {
        self.lock().loads
    }

    pub(crate) fn count_load(&self) {
        self.lock().loads += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A std mutex: every critical section is a few map operations, never an await, and a
        // panic inside one cannot leave the map inconsistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached vectors of `key` when they are at `generation` (and marks them used).
    pub(crate) fn get(&self, key: CacheKey, generation: i64) -> Option<Arc<TenantVectors>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let slot = inner.slots.get_mut(&key)?;
        let v = slot
            .vectors
            .as_ref()
            .filter(|v| v.generation == generation)?;
        slot.last_used = tick;
        Some(Arc::clone(v))
    }

    /// The tenant's load lock: misses for one tenant wait on it and then find the vectors the
    /// first loaded, instead of each streaming the same megabytes out of the database.
    pub(crate) fn loading_lock(&self, key: CacheKey) -> Arc<futures::lock::Mutex<()>> {
        let mut inner = self.lock();
        let slot = inner.slots.entry(key).or_insert_with(|| Slot {
            vectors: None,
            bytes: 0,
            last_used: 0,
            loading: Arc::default(),
        });
        Arc::clone(&slot.loading)
    }

    /// Stores freshly loaded vectors, unless an entry of a later generation is already there
    /// (generations only grow), then evicts the least recently used tenants down to the bound.
    /// Vectors larger than the whole bound are not kept.
    pub(crate) fn insert(&self, key: CacheKey, vectors: Arc<TenantVectors>) {
        let bytes = vectors.bytes();
        if bytes > self.capacity {
            return;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let slot = inner.slots.entry(key).or_insert_with(|| Slot {
            vectors: None,
            bytes: 0,
            last_used: 0,
            loading: Arc::default(),
        });
        if slot
            .vectors
            .as_ref()
            .is_some_and(|v| v.generation > vectors.generation)
        {
            return;
        }
        let freed = std::mem::replace(&mut slot.bytes, bytes);
        slot.vectors = Some(vectors);
        slot.last_used = tick;
        inner.used = inner.used - freed + bytes;
        evict(&mut inner, key, self.capacity);
    }
}

/// Drops the least recently used entries other than `keep` until `used` fits `capacity`.
fn evict(inner: &mut Inner, keep: CacheKey, capacity: usize) {
    while inner.used > capacity {
        let victim = inner
            .slots
            .iter()
            .filter(|(k, s)| **k != keep && s.vectors.is_some())
            .min_by_key(|(_, s)| s.last_used)
            .map(|(k, _)| *k);
        let Some(victim) = victim else { break };
        // The whole slot goes, load lock included: a search still waiting on that lock loads
        // once more on its own, which costs time, never correctness.
        if let Some(slot) = inner.slots.remove(&victim) {
            inner.used -= slot.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(generation: i64, rows: usize) -> Arc<TenantVectors> {
        let mut v = TenantVectors::new(generation);
        for i in 0..rows {
            v.push(Uuid::nil(), i as i32, &crate::similarity::encode(&[1.0; 8]));
        }
        Arc::new(v)
    }

    #[test]
    fn the_least_recently_used_tenant_is_evicted_to_keep_the_bound() {
        let one = vectors(1, 100).bytes();
        let cache = VectorCache::new(one * 2 + one / 2);
        let (a, b, c) = (
            (1, Uuid::new_v4()),
            (1, Uuid::new_v4()),
            (1, Uuid::new_v4()),
        );
        cache.insert(a, vectors(1, 100));
        cache.insert(b, vectors(1, 100));
        assert!(cache.get(a, 1).is_some());
        cache.insert(c, vectors(1, 100));
        assert!(cache.get(b, 1).is_none(), "b was the least recently used");
        assert!(cache.get(a, 1).is_some() && cache.get(c, 1).is_some());
        assert!(cache.used() <= cache.capacity());
    }

    #[test]
    fn an_older_generation_never_replaces_a_newer_one_and_a_mismatch_misses() {
        let cache = VectorCache::new(1 << 20);
        let key = (1, Uuid::new_v4());
        cache.insert(key, vectors(5, 3));
        cache.insert(key, vectors(4, 1));
        assert_eq!(cache.get(key, 5).map(|v| v.len()), Some(3));
        assert!(cache.get(key, 4).is_none());
        assert!(cache.get((2, key.1), 5).is_none(), "another store's key");
    }

    #[test]
    fn vectors_larger_than_the_bound_are_not_kept() {
        let cache = VectorCache::new(64);
        cache.insert((1, Uuid::new_v4()), vectors(1, 100));
        assert_eq!((cache.used(), cache.tenants()), (0, 0));
    }

    #[test]
    fn the_cache_size_setting_is_whole_mebibytes() {
        assert_eq!(parse_cache_mb("256").ok(), Some(256 << 20));
        assert_eq!(parse_cache_mb(" 0 ").ok(), Some(0));
        for bad in ["", "-1", "1.5", "lots", "99999999999999999999"] {
            assert!(
                matches!(parse_cache_mb(bad), Err(RetrievalError::Input(_))),
                "{bad}"
            );
        }
    }
}
