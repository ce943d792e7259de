//! A map kept as a list. The background's maps hold a few dozen entries at most (streams per tab
//! are capped), where a hash table's code (hashbrown and SipHash, ~5 KiB of the WASM) buys nothing.
//! Entries stay in insertion order, so iteration is deterministic.

pub struct SmallMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap { entries: Vec::new() }
    }
}

impl<K: Copy + PartialEq, V> SmallMap<K, V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &K) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.position(key).is_some()
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`, replacing what it held.
    pub fn insert(&mut self, key: K, value: V) {
        match self.get_mut(&key) {
            Some(held) => *held = value,
            None => self.entries.push((key, value)),
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.position(key)?;
        Some(self.entries.remove(at).1)
    }

    /// The value of `key`, a default one inserted first if there was none.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let at = self.position(&key).unwrap_or_else(|| {
            self.entries.push((key, V::default()));
            self.entries.len() - 1
        });
        &mut self.entries[at].1
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.entries.retain(|(k, v)| keep(k, v));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::SmallMap;

    #[test]
    fn entries_are_set_replaced_and_removed_in_order() {
        let mut map = SmallMap::default();
        map.insert(2, "b");
        map.insert(1, "a");
        map.insert(2, "B");
        assert_eq!(map.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(), [(2, "B"), (1, "a")]);
        assert_eq!(map.remove(&2), Some("B"));
        assert_eq!(map.remove(&2), None);
        *map.get_or_default(3) = "c";
        map.retain(|k, _| *k != 1);
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [3]);
        assert!(map.contains_key(&3) && map.len() == 1 && !map.is_empty());
    }
}
