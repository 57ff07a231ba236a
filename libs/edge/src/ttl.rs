//! A small in-process map whose entries expire: the gateway's verified tokens and its cached
//! permission lookups (Kong keeps both per node in memory too).
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct TtlMap<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
    max: usize,
}

impl<V: Clone> TtlMap<V> {
    /// At most `max` entries: when full, expired ones go, and if that is not enough, all.
    pub fn new(max: usize) -> Self {
        TtlMap {
            entries: Mutex::new(HashMap::new()),
            max,
        }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(v, _)| v.clone())
    }

    pub fn insert(&self, key: String, value: V, ttl: Duration) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max {
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.max {
                entries.clear();
            }
        }
        entries.insert(key, (value, now + ttl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_map_stays_bounded() {
        let m = TtlMap::new(2);
        m.insert("a".into(), 1, Duration::from_secs(60));
        m.insert("gone".into(), 2, Duration::ZERO);
        assert_eq!(m.get("a"), Some(1));
        assert_eq!(m.get("gone"), None, "expired");
        m.insert("b".into(), 3, Duration::from_secs(60));
        assert_eq!(
            (m.get("a"), m.get("b")),
            (Some(1), Some(3)),
            "the expired one made room"
        );
        m.insert("c".into(), 4, Duration::from_secs(60));
        assert_eq!(m.get("c"), Some(4));
        assert_eq!(m.get("a"), None, "full of live entries: cleared");
    }
}
