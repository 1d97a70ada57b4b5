//! A fast hash for the engine's maps of ids (orders, groups, symbols, sessions).
//!
//! The Fx hash (as rustc uses): a rotate, xor and multiply per 8 bytes. The std SipHash resists
//! collision attacks at several times the cost; these ids come from our own system and the
//! broker's, not from an adversary, and every event looks several of them up.
//!
//! Maps over ids the engine holds many of (the book's orders) are keyed instead by one stable
//! 64-bit hash of the id ([`id_hash`]), each hit verified against the id its holder keeps, so the
//! map holds no copy of the id ([`IdIndex`]).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::xxh3_64;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

/// The keys are hashes already: a map over them needs no second hash.
#[derive(Default, Clone, Copy)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A map keyed by a 64-bit hash.
pub type HashKeyed<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// The one stable hash of an id (xxh3, as the dedup keys): no per-process salt.
#[inline]
pub fn id_hash(id: &str) -> u64 {
    xxh3_64(id.as_bytes())
}

/// Ids to small values (slots), keyed by the id's hash; the id itself is kept by the value's holder.
///
/// Each lookup is verified against the holder's id (`id_of`), so two ids with one hash never meet:
/// the first id of a hash is held by hash, any other id of that hash by the id itself
/// (`collided`, empty but for a collision of 64-bit hashes). Every id held is in exactly one of
/// the two.
#[derive(Debug, Clone, Default)]
pub struct IdIndex {
    by_hash: HashKeyed<u32>,
    collided: FastMap<Box<str>, u32>,
    /// None: [`id_hash`].
    hash: Option<fn(&str) -> u64>,
}

impl IdIndex {
    /// An index over another hash (tests force collisions with it).
    pub fn with_hash(hash: fn(&str) -> u64) -> IdIndex {
        IdIndex {
            hash: Some(hash),
            ..IdIndex::default()
        }
    }

    #[inline]
    fn hash_of(&self, id: &str) -> u64 {
        match self.hash {
            None => id_hash(id),
            Some(hash) => hash(id),
        }
    }

    /// The value held for `id`; `id_of` gives (the bytes of) the id a value's holder keeps.
    #[inline]
    pub fn get<'a>(&self, id: &str, id_of: impl Fn(u32) -> Option<&'a [u8]>) -> Option<u32> {
        if let Some(&value) = self.by_hash.get(&self.hash_of(id))
            && id_of(value) == Some(id.as_bytes())
        {
            return Some(value);
        }
        if self.collided.is_empty() {
            return None;
        }
        self.collided.get(id).copied()
    }

    /// Hold `value` for `id`, which is not held.
    pub fn insert(&mut self, id: &str, value: u32) {
        let hash = self.hash_of(id);
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(value);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(id.into(), value);
            }
        }
    }

    /// Forget `id`, held with `value`.
    pub fn remove(&mut self, id: &str, value: u32) {
        let hash = self.hash_of(id);
        if self.by_hash.get(&hash) == Some(&value) {
            self.by_hash.remove(&hash);
        } else {
            self.collided.remove(id);
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len() + self.collided.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty() && self.collided.is_empty()
    }
}
