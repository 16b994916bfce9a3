//! Key ranges over the legacy key (a uuid) that cover the whole key space.
//!
//! PostgreSQL orders uuids bytewise, which is the order of the big-endian
//! 128-bit number, so ranges are built on `u128`. Every range is inclusive on
//! both ends (`id BETWEEN lo AND hi`), the first starts at the nil uuid and the
//! last ends at `ffffffff-...`: a row in the new tables whose id lies outside
//! the legacy ids still falls into some chunk. Boundaries only balance the
//! work; any set of them gives a complete cover.

use uuid::Uuid;

/// One inclusive key range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    pub lo: Uuid,
    pub hi: Uuid,
}

impl KeyRange {
    /// The whole key space.
    pub fn all() -> Self {
        KeyRange { lo: Uuid::from_u128(0), hi: Uuid::from_u128(u128::MAX) }
    }
}

/// Splits the key space before each boundary: `[0, b1-1], [b1, b2-1], ...,
/// [bn, MAX]`. Boundaries may come unsorted or repeated; the nil uuid as a
/// boundary is ignored.
pub fn ranges_from_boundaries(boundaries: &[Uuid]) -> Vec<KeyRange> {
    let mut starts: Vec<u128> = boundaries.iter().map(|u| u.as_u128()).filter(|b| *b > 0).collect();
    starts.sort_unstable();
    starts.dedup();
    let mut out = Vec::with_capacity(starts.len() + 1);
    let mut lo = 0u128;
    for b in starts {
        out.push(KeyRange { lo: Uuid::from_u128(lo), hi: Uuid::from_u128(b - 1) });
        lo = b;
    }
    out.push(KeyRange { lo: Uuid::from_u128(lo), hi: Uuid::from_u128(u128::MAX) });
    out
}

/// The fractions `1/k, 2/k, ..., (k-1)/k` to sample boundaries for `k` chunks.
pub fn fractions(k: usize) -> Vec<f64> {
    (1..k).map(|i| i as f64 / k as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn no_boundaries_cover_everything_in_one_range() {
        assert_eq!(ranges_from_boundaries(&[]), vec![KeyRange::all()]);
    }

    #[test]
    fn ranges_are_contiguous_sorted_and_complete() {
        let r = ranges_from_boundaries(&[u(50), u(10), u(10), u(0)]);
        assert_eq!(
            r,
            vec![
                KeyRange { lo: u(0), hi: u(9) },
                KeyRange { lo: u(10), hi: u(49) },
                KeyRange { lo: u(50), hi: u(u128::MAX) },
            ]
        );
    }

    #[test]
    fn uuid_order_is_bytewise_like_postgres() {
        let a = Uuid::parse_str("0fffffff-ffff-ffff-ffff-ffffffffffff").expect("uuid");
        let b = Uuid::parse_str("10000000-0000-0000-0000-000000000000").expect("uuid");
        assert!(a.as_u128() < b.as_u128());
        assert_eq!(u(b.as_u128() - 1), a);
    }

    #[test]
    fn fractions_split_evenly() {
        assert_eq!(fractions(4), vec![0.25, 0.5, 0.75]);
        assert!(fractions(1).is_empty());
    }
}
