//! The depth check of a verify run: every row of the new tables has depth 0
//! when it is a root and its parent's depth + 1 below.

use std::time::Instant;

use tokio_postgres::Client;

use crate::diff::{Difference, DifferenceKind};
use crate::report::CheckResult;
use crate::verify::{Options, Outcome};

/// Runs the spec's depth check in one read-only transaction.
pub(crate) async fn check(client: &Client, opts: &Options) -> Result<Outcome, tokio_postgres::Error> {
    let started = Instant::now();
    client.batch_execute("BEGIN READ ONLY").await?;
    client.batch_execute(crate::plan::DEPTH_CHECK_SETTINGS).await?;
    let rows = client.query(&opts.spec.depth_check_sql(opts.max_differences.max(1)), &[]).await;
    client.batch_execute(if rows.is_ok() { "COMMIT" } else { "ROLLBACK" }).await?;
    let rows = rows?;
    let mut total = 0u64;
    let mut differences: Vec<Difference> = Vec::new();
    for r in &rows {
        total = r.try_get::<_, i64>("total")?.max(0) as u64;
        let id: String = r.try_get("id")?;
        if differences.last().is_some_and(|d| d.id == id) {
            continue;
        }
        let depth: Option<i32> = r.try_get("depth")?;
        let expected: Option<i32> = r.try_get("expected")?;
        let show = |v: Option<i32>| v.map_or("NULL".to_string(), |v| v.to_string());
        differences.push(Difference {
            kind: DifferenceKind::WrongDepth,
            id,
            columns: vec!["depth".into()],
            table: None,
            detail: Some(format!("depth {}, expected {}", show(depth), show(expected))),
            check: "depth".into(),
        });
    }
    let listed = differences.len() as u64;
    let result = CheckResult {
        name: "depth".into(),
        differences: total.max(listed),
        seconds: started.elapsed().as_secs_f64(),
        detail: Some("depth = 0 for roots, parent's depth + 1 below".into()),
        error: None,
    };
    let unlisted = total.saturating_sub(listed);
    Ok(Outcome::Check { result, differences, unlisted: (DifferenceKind::WrongDepth, unlisted) })
}
