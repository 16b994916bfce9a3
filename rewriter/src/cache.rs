//! The plan cache: keyed by (phase, statement text), bounded, shared by all
//! connections, with hit and miss counters. Eviction is deliberately simple:
//! when full, an arbitrary eighth of the entries is dropped (statement texts
//! of one application are few; the bound only protects against unbounded
//! ad-hoc SQL).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use crate::plan::{Phase, Plan};

/// A bounded, concurrent plan cache.
pub struct PlanCache {
    map: DashMap<(Phase, Arc<str>), Arc<Plan>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// Counter snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: usize,
}

impl PlanCache {
    /// A cache holding at most `capacity` plans (at least 1).
    pub fn new(capacity: usize) -> Self {
        PlanCache {
            map: DashMap::new(),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The cached plan, or `make()`'s, stored.
    pub fn get_or_insert_with(&self, phase: Phase, sql: &str, make: impl FnOnce() -> Plan) -> Arc<Plan> {
        let key: (Phase, Arc<str>) = (phase, Arc::from(sql));
        if let Some(p) = self.map.get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Arc::clone(p.value());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let plan = Arc::new(make());
        if self.map.len() >= self.capacity {
            self.evict();
        }
        self.map.insert(key, Arc::clone(&plan));
        plan
    }

    fn evict(&self) {
        let n = (self.capacity / 8).max(1);
        let victims: Vec<(Phase, Arc<str>)> = self.map.iter().take(n).map(|e| e.key().clone()).collect();
        for v in victims {
            if self.map.remove(&v).is_some() {
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counters and size.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: self.map.len(),
        }
    }

    /// Drops every plan (e.g. after the spec changes).
    pub fn clear(&self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hits_and_misses_and_stays_bounded() {
        let c = PlanCache::new(16);
        for i in 0..100 {
            c.get_or_insert_with(Phase::DualWrite, &format!("select {i}"), || Plan::passthrough("x"));
        }
        let _ = c.get_or_insert_with(Phase::DualWrite, "select 99", || Plan::passthrough("y"));
        let s = c.stats();
        assert_eq!(s.misses, 100);
        assert_eq!(s.hits, 1);
        assert!(s.entries <= 16, "{s:?}");
        assert!(s.evictions > 0);
        // Phases are part of the key.
        let p = c.get_or_insert_with(Phase::ReadNew, "select 99", || Plan::passthrough("z"));
        assert_eq!(p.sql, "z");
    }
}
