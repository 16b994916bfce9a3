//! `--max-rows-per-sec`: a pacing gate shared by every job.
//!
//! Each compared chunk reserves its rows' worth of time on one shared clock;
//! a job sleeps until its reservation begins. Bursts are never bigger than one
//! chunk, and the average rate over the run stays at or below the limit.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// Shared rate limit (rows per second); `None` means unlimited.
#[derive(Debug)]
pub struct Throttle {
    rate: Option<f64>,
    next: Mutex<Option<Instant>>,
}

impl Throttle {
    pub fn new(rows_per_sec: Option<u64>) -> Self {
        Throttle { rate: rows_per_sec.filter(|r| *r > 0).map(|r| r as f64), next: Mutex::new(None) }
    }

    /// How long to wait before reading `rows` more rows, reserving their slot.
    pub async fn reserve(&self, rows: u64) -> Duration {
        let Some(rate) = self.rate else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let mut next = self.next.lock().await;
        let start = next.map_or(now, |n| n.max(now));
        *next = Some(start + Duration::from_secs_f64(rows as f64 / rate));
        start - now
    }

    /// Waits for the slot of `rows` rows.
    pub async fn wait(&self, rows: u64) {
        let d = self.reserve(rows).await;
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_follow_each_other_at_the_rate() {
        let t = Throttle::new(Some(1000));
        assert_eq!(t.reserve(500).await, Duration::ZERO);
        let second = t.reserve(500).await;
        assert!(second > Duration::from_millis(450) && second <= Duration::from_millis(500), "{second:?}");
        let third = t.reserve(10).await;
        assert!(third > Duration::from_millis(950), "{third:?}");
    }

    #[tokio::test]
    async fn no_limit_never_waits() {
        let t = Throttle::new(None);
        for _ in 0..3 {
            assert_eq!(t.reserve(1_000_000).await, Duration::ZERO);
        }
        assert_eq!(Throttle::new(Some(0)).reserve(5).await, Duration::ZERO);
    }
}
