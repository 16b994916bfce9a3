//! The backfill's key ranges (kept in `switchyard.backfill_ranges`, see
//! [`crate::store::backfill_ranges`]): the uuid space cut into equal slices,
//! one cursor each, so several jobs copy at once and a resumed run continues
//! where each stopped.

use tokio_postgres::Client;
use uuid::Uuid;

use super::{BackfillConfig, BackfillError};
use crate::store::backfill_ranges;
pub(super) use crate::store::backfill_ranges::KeyRange;

/// The ranges still to copy, made on the first run: `cfg.jobs` equal slices
/// of the uuid space (one when a checkpoint from a single-cursor run exists).
pub(super) async fn key_ranges(
    client: &Client,
    cfg: &BackfillConfig,
    legacy_cursor: Option<Uuid>,
) -> Result<Vec<KeyRange>, BackfillError> {
    if backfill_ranges::count(client, &cfg.table).await? == 0 {
        let bounds = split_key_space(if legacy_cursor.is_some() { 1 } else { cfg.jobs.max(1) });
        for (no, (after, upto)) in bounds.into_iter().enumerate() {
            backfill_ranges::create(client, &cfg.table, no as i32, after, upto, legacy_cursor).await?;
        }
    }
    Ok(backfill_ranges::pending(client, &cfg.table).await?)
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
