//! The backfill's key ranges (`switchyard.backfill_ranges`, migration
//! 0013): the uuid space cut into equal slices, one cursor each, so several
//! jobs copy at once and a resumed run continues where each stopped.

use tokio_postgres::Client;
use uuid::Uuid;

use super::{BackfillConfig, BackfillError};

/// One key range of the backfill: legacy ids in (after, upto].
#[derive(Debug, Clone, PartialEq)]
pub(super) struct KeyRange {
    pub(super) no: i32,
    pub(super) upto: Uuid,
    /// Where copying resumes (the range's lower bound at first).
    pub(super) cursor: Uuid,
}

/// The ranges still to copy, made on the first run: `cfg.jobs` equal slices
/// of the uuid space (one when a checkpoint from a single-cursor run exists).
pub(super) async fn key_ranges(
    client: &Client,
    cfg: &BackfillConfig,
    legacy_cursor: Option<Uuid>,
) -> Result<Vec<KeyRange>, BackfillError> {
    let existing: i64 = client
        .query_one("SELECT count(*) FROM switchyard.backfill_ranges WHERE table_name = $1", &[&cfg.table])
        .await?
        .get(0);
    if existing == 0 {
        let bounds = split_key_space(if legacy_cursor.is_some() { 1 } else { cfg.jobs.max(1) });
        for (no, (after, upto)) in bounds.into_iter().enumerate() {
            client
                .execute(
                    "INSERT INTO switchyard.backfill_ranges (table_name, range_no, after_key, upto_key, last_key)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&cfg.table, &(no as i32), &after, &upto, &legacy_cursor],
                )
                .await?;
        }
    }
    let rows = client
        .query(
            "SELECT range_no, upto_key, coalesce(last_key, after_key) FROM switchyard.backfill_ranges
             WHERE table_name = $1 AND NOT done ORDER BY range_no",
            &[&cfg.table],
        )
        .await?;
    Ok(rows.iter().map(|r| KeyRange { no: r.get(0), upto: r.get(1), cursor: r.get(2) }).collect())
}

/// `n` contiguous ranges (after, upto] covering every uuid but the nil one.
pub fn split_key_space(n: usize) -> Vec<(Uuid, Uuid)> {
    let n = n.max(1) as u128;
    let step = u128::MAX / n;
    (0..n)
        .map(|k| {
            let after = k * step;
            let upto = if k + 1 == n { u128::MAX } else { (k + 1) * step };
            (Uuid::from_u128(after), Uuid::from_u128(upto))
        })
        .collect()
}
