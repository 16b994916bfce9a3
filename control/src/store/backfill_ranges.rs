//! `switchyard.backfill_ranges` (migration 0013): the backfill's key
//! ranges, one cursor each, so several jobs copy at once and a resumed run
//! continues where each stopped.

use tokio_postgres::GenericClient;
use uuid::Uuid;

/// One key range still to copy: legacy ids in (cursor, upto].
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRange {
    pub no: i32,
    pub upto: Uuid,
    /// Where copying resumes (the range's lower bound at first).
    pub cursor: Uuid,
}

/// One range's progress, for `status`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackfillRange {
    pub range_no: i32,
    pub rows_copied: i64,
    pub done: bool,
}

/// How many ranges the table's backfill has (0 before its first run).
pub async fn count(client: &impl GenericClient, table: &str) -> Result<i64, tokio_postgres::Error> {
    Ok(client
        .query_one("SELECT count(*) FROM switchyard.backfill_ranges WHERE table_name = $1", &[&table])
        .await?
        .get(0))
}

/// Records range `no`, ids in (after, upto], resuming after `last_key`.
pub async fn create(
    client: &impl GenericClient,
    table: &str,
    no: i32,
    after: Uuid,
    upto: Uuid,
    last_key: Option<Uuid>,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO switchyard.backfill_ranges (table_name, range_no, after_key, upto_key, last_key)
             VALUES ($1, $2, $3, $4, $5)",
            &[&table, &no, &after, &upto, &last_key],
        )
        .await?;
    Ok(())
}

/// The ranges not done yet, in order.
pub async fn pending(client: &impl GenericClient, table: &str) -> Result<Vec<KeyRange>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT range_no, upto_key, coalesce(last_key, after_key) FROM switchyard.backfill_ranges
             WHERE table_name = $1 AND NOT done ORDER BY range_no",
            &[&table],
        )
        .await?;
    Ok(rows.iter().map(|r| KeyRange { no: r.get(0), upto: r.get(1), cursor: r.get(2) }).collect())
}

/// Marks range `no` copied to its end (in the batch's transaction).
pub async fn finish(client: &impl GenericClient, table: &str, no: i32) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE switchyard.backfill_ranges SET done = true WHERE table_name = $1 AND range_no = $2",
            &[&table, &no],
        )
        .await?;
    Ok(())
}

/// Moves range `no`'s cursor to `last_key` after a batch of `rows` (in the
/// batch's transaction, with its checkpoint).
pub async fn advance(
    client: &impl GenericClient,
    table: &str,
    no: i32,
    last_key: Uuid,
    rows: i64,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE switchyard.backfill_ranges SET last_key = $3, rows_copied = rows_copied + $4
             WHERE table_name = $1 AND range_no = $2",
            &[&table, &no, &last_key, &rows],
        )
        .await?;
    Ok(())
}

/// Every range's progress, in order.
pub async fn progress(client: &impl GenericClient, table: &str) -> Result<Vec<BackfillRange>, tokio_postgres::Error> {
    Ok(client
        .query(
            "SELECT range_no, rows_copied, done FROM switchyard.backfill_ranges WHERE table_name = $1 ORDER BY range_no",
            &[&table],
        )
        .await?
        .iter()
        .map(|r| BackfillRange { range_no: r.get(0), rows_copied: r.get(1), done: r.get(2) })
        .collect())
}
