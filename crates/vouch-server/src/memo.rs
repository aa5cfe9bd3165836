//! A memo of decisions: each key is computed once however many requests ask for it at the
//! same time (single flight), and the answer is kept for as long as its time-to-live says.
//!
//! A waiter that gives up (its request hit its deadline) does not cancel the others: if the
//! computing caller is the one that gave up, the next waiter computes instead. Entries are
//! bounded; past the bound, expired entries go first, then those closest to expiring.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// Computed values by key, with single flight and time-to-live.
pub struct Memo<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    max_entries: usize,
}

enum Entry<V> {
    Ready { value: V, expires: Instant },
    Computing(Arc<OnceCell<V>>),
}

/// Whether [`Memo::get_or_compute`] computed the value or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Kept from an earlier computation.
    Memo,
    /// Computed by another request at the same time; this one waited for it.
    Joined,
    /// Computed for this call.
    Computed,
}

impl<K: Eq + Hash + Clone, V: Clone> Memo<K, V> {
    /// A memo holding at most `max_entries` values.
    pub fn new(max_entries: usize) -> Memo<K, V> {
        Memo {
            entries: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value for `key`: kept, joined from a computation in flight, or computed now with
    /// `compute` and kept for `ttl(&value)` (zero: not kept).
    pub async fn get_or_compute<F, Fut>(
        &self,
        key: K,
        ttl: impl Fn(&V) -> Duration,
        compute: F,
    ) -> (V, Source)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = {
            let mut entries = self.lock();
            match entries.get(&key) {
                Some(Entry::Ready { value, expires }) if *expires > Instant::now() => {
                    return (value.clone(), Source::Memo);
                }
                Some(Entry::Computing(cell)) => Arc::clone(cell),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    entries.insert(key.clone(), Entry::Computing(Arc::clone(&cell)));
                    cell
                }
            }
        };
        let mut computed_here = false;
        let value = cell
            .get_or_init(|| {
                computed_here = true;
                compute()
            })
            .await
            .clone();
        if computed_here {
            let lifetime = ttl(&value);
            let mut entries = self.lock();
            // Only replace our own in-flight marker (a concurrent `forget` may have removed it).
            if matches!(entries.get(&key), Some(Entry::Computing(c)) if Arc::ptr_eq(c, &cell)) {
                if lifetime.is_zero() {
                    entries.remove(&key);
                } else {
                    entries.insert(
                        key,
                        Entry::Ready {
                            value: value.clone(),
                            expires: Instant::now() + lifetime,
                        },
                    );
                    self.trim(&mut entries);
                }
            }
            (value, Source::Computed)
        } else {
            (value, Source::Joined)
        }
    }

    /// Drops every kept value (e.g. when the policy they were computed under changed).
    pub fn clear(&self) {
        self.lock().retain(|_, e| matches!(e, Entry::Computing(_)));
    }

    /// How many values are kept or in flight.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing is kept or in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn trim(&self, entries: &mut HashMap<K, Entry<V>>) {
        if entries.len() <= self.max_entries {
            return;
        }
        let now = Instant::now();
        entries.retain(|_, e| !matches!(e, Entry::Ready { expires, .. } if *expires <= now));
        while entries.len() > self.max_entries {
            let soonest = entries
                .iter()
                .filter_map(|(k, e)| match e {
                    Entry::Ready { expires, .. } => Some((k.clone(), *expires)),
                    Entry::Computing(_) => None,
                })
                .min_by_key(|(_, t)| *t)
                .map(|(k, _)| k);
            match soonest {
                Some(k) => {
                    entries.remove(&k);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_requests_compute_once() {
        let memo: Arc<Memo<&str, u32>> = Arc::new(Memo::new(10));
        let runs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (memo, runs) = (Arc::clone(&memo), Arc::clone(&runs));
                tokio::spawn(async move {
                    memo.get_or_compute(
                        "image",
                        |_| Duration::from_secs(60),
                        || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            7
                        },
                    )
                    .await
                })
            })
            .collect();
        let mut sources = Vec::new();
        for t in tasks {
            let (v, s) = t.await.expect("task");
            assert_eq!(v, 7);
            sources.push(s);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            sources.iter().filter(|s| **s == Source::Computed).count(),
            1
        );
        let (_, again) = memo
            .get_or_compute("image", |_| Duration::ZERO, || async { 8 })
            .await;
        assert_eq!(again, Source::Memo);
    }

    #[tokio::test]
    async fn a_cancelled_computation_is_taken_over() {
        let memo: Arc<Memo<&str, u32>> = Arc::new(Memo::new(10));
        let first = {
            let memo = Arc::clone(&memo);
            tokio::spawn(async move {
                memo.get_or_compute(
                    "k",
                    |_| Duration::from_secs(60),
                    || async {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        1
                    },
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = {
            let memo = Arc::clone(&memo);
            tokio::spawn(async move {
                memo.get_or_compute("k", |_| Duration::from_secs(60), || async { 2 })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        first.abort();
        let (v, _) = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("second finishes")
            .expect("task");
        assert_eq!(v, 2);
    }

    #[tokio::test]
    async fn zero_ttl_is_not_kept_and_the_bound_holds() {
        let memo: Memo<u32, u32> = Memo::new(3);
        memo.get_or_compute(0, |_| Duration::ZERO, || async { 0 })
            .await;
        assert!(memo.is_empty());
        for k in 1..=10 {
            memo.get_or_compute(
                k,
                |_| Duration::from_secs(u64::from(k)),
                || async move { k },
            )
            .await;
        }
        assert_eq!(memo.len(), 3);
        let (_, s) = memo
            .get_or_compute(10, |_| Duration::from_secs(1), || async { 0 })
            .await;
        assert_eq!(s, Source::Memo, "the latest-expiring entries are kept");
        memo.clear();
        assert!(memo.is_empty());
    }
}
