//! Typed storage: a single value under a fixed key ([`Item`]) and a map under a key prefix
//! ([`Map`]). Values use the [`Value`] encoding.

use alloc::vec::Vec;
use core::marker::PhantomData;

use crate::codec::Value;
use crate::env;

fn decode<T: Value>(key: &[u8], bytes: &[u8]) -> T {
    match T::from_bytes(bytes) {
        Ok(v) => v,
        Err(e) => env::abort(&alloc::format!(
            "storage value under key {key:?} does not decode: {e}"
        )),
    }
}

/// One value of type `T` stored under a fixed key.
pub struct Item<T> {
    key: &'static [u8],
    _t: PhantomData<fn() -> T>,
}

impl<T: Value> Item<T> {
    /// The item stored under `key`.
    pub const fn new(key: &'static [u8]) -> Self {
        Item {
            key,
            _t: PhantomData,
        }
    }

    /// The stored value, if any.
    pub fn get(&self) -> Option<T> {
        env::storage_get(self.key).map(|b| decode(self.key, &b))
    }

    /// The stored value, or `default`.
    pub fn get_or(&self, default: T) -> T {
        self.get().unwrap_or(default)
    }

    /// Stores `value`.
    pub fn set(&self, value: &T) {
        env::storage_set(self.key, &value.to_bytes());
    }

    /// Removes the value; true if there was one.
    pub fn remove(&self) -> bool {
        env::storage_remove(self.key)
    }
}

/// A map from `K` to `V`, each entry stored under `prefix ++ encode(key)`.
pub struct Map<K, V> {
    prefix: &'static [u8],
    _kv: PhantomData<fn() -> (K, V)>,
}

impl<K: Value, V: Value> Map<K, V> {
    /// The map whose entries live under `prefix`. Prefixes of different maps and items must
    /// not be prefixes of each other's keys.
    pub const fn new(prefix: &'static [u8]) -> Self {
        Map {
            prefix,
            _kv: PhantomData,
        }
    }

    /// The storage key of the entry for `key`.
    pub fn key(&self, key: &K) -> Vec<u8> {
        let mut k = self.prefix.to_vec();
        key.write(&mut k);
        k
    }

    /// The value for `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        let k = self.key(key);
        env::storage_get(&k).map(|b| decode(&k, &b))
    }

    /// Stores `value` for `key`.
    pub fn set(&self, key: &K, value: &V) {
        env::storage_set(&self.key(key), &value.to_bytes());
    }

    /// Removes the entry for `key`; true if there was one.
    pub fn remove(&self, key: &K) -> bool {
        env::storage_remove(&self.key(key))
    }
}
