//! `switchyard status`: where the migration stands.

use serde_json::json;
use switchyard_control::{instances, state};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: String,
    #[arg(long, default_value = "todos")]
    pub table: String,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let client = super::connect(&args.database_url).await?;
    let s = state::current(&client, &args.table).await?;
    let history = state::history(&client, &args.table, 20).await?;
    let instances = instances::list(&client).await?;
    let backfill = client
        .query_opt(
            "SELECT rows_copied, batches, completed, paused, last_key::text, started_at, finished_at
             FROM switchyard.backfill_progress WHERE table_name = $1",
            &[&args.table],
        )
        .await?;
    // Key ranges of a `backfill --jobs N` run (one for a single job).
    let ranges = client
        .query(
            "SELECT range_no, rows_copied, done FROM switchyard.backfill_ranges WHERE table_name = $1 ORDER BY range_no",
            &[&args.table],
        )
        .await?;
    let legacy_rows: i64 = client
        .query_one("SELECT coalesce(reltuples, 0)::int8 FROM pg_class WHERE oid = to_regclass($1)", &[&args.table])
        .await
        .map(|r| r.get(0))
        .unwrap_or(0);
    let verify = client
        .query_opt(
            "SELECT started_at, finished_at, clean, differences FROM switchyard.verify_runs
             WHERE table_name = $1 ORDER BY id DESC LIMIT 1",
            &[&args.table],
        )
        .await?;

    let report = json!({
        "table": s.table,
        "phase": s.phase.as_str(),
        "epoch": s.epoch,
        "since": s.updated_at.to_rfc3339(),
        "updated_by": s.updated_by,
        "reason": s.reason,
        "history": history.iter().map(|h| json!({
            "from": h.from, "to": h.to, "epoch": h.epoch, "at": h.at.to_rfc3339(), "by": h.by, "reason": h.reason,
        })).collect::<Vec<_>>(),
        "instances": instances.iter().map(|i| json!({
            "instance_id": i.instance_id, "host": i.host, "started_at": i.started_at.to_rfc3339(),
            "heartbeat_age_secs": i.heartbeat_age_secs, "acknowledged_phase": i.acknowledged_phase,
            "acknowledged_epoch": i.acknowledged_epoch,
        })).collect::<Vec<_>>(),
        "backfill": backfill.as_ref().map(|b| json!({
            "rows_copied": b.get::<_, i64>(0), "batches": b.get::<_, i64>(1), "completed": b.get::<_, bool>(2),
            "paused": b.get::<_, bool>(3), "last_key": b.get::<_, Option<String>>(4),
            "started_at": b.get::<_, chrono::DateTime<chrono::Utc>>(5).to_rfc3339(),
            "finished_at": b.get::<_, Option<chrono::DateTime<chrono::Utc>>>(6).map(|t| t.to_rfc3339()),
            "legacy_rows_estimate": legacy_rows,
            "ranges": ranges.iter().map(|r| json!({
                "range_no": r.get::<_, i32>(0), "rows_copied": r.get::<_, i64>(1), "done": r.get::<_, bool>(2),
            })).collect::<Vec<_>>(),
        })),
        "last_verify": verify.as_ref().map(|v| json!({
            "started_at": v.get::<_, chrono::DateTime<chrono::Utc>>(0).to_rfc3339(),
            "finished_at": v.get::<_, Option<chrono::DateTime<chrono::Utc>>>(1).map(|t| t.to_rfc3339()),
            "clean": v.get::<_, Option<bool>>(2), "differences": v.get::<_, Option<i64>>(3),
        })),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    println!(
        "{}: phase {} (epoch {}) since {} by {}",
        s.table,
        s.phase,
        s.epoch,
        s.updated_at.to_rfc3339(),
        s.updated_by
    );
    println!("\nhistory:");
    for h in &history {
        println!(
            "  {}  {} -> {} (epoch {})  {}  {}",
            h.at.to_rfc3339(),
            h.from.as_deref().unwrap_or("-"),
            h.to,
            h.epoch,
            h.by.as_deref().unwrap_or(""),
            h.reason.as_deref().unwrap_or("")
        );
    }
    println!("\nproxy instances:");
    if instances.is_empty() {
        println!("  none registered");
    }
    for i in &instances {
        println!(
            "  {}  heartbeat {:.0}s ago  on {} (epoch {})",
            i.instance_id,
            i.heartbeat_age_secs,
            i.acknowledged_phase.as_deref().unwrap_or("-"),
            i.acknowledged_epoch.map(|e| e.to_string()).unwrap_or_else(|| "-".into())
        );
    }
    match &backfill {
        None => println!("\nbackfill: not started"),
        Some(b) => {
            let copied: i64 = b.get(0);
            let pct = if legacy_rows > 0 { 100.0 * copied as f64 / legacy_rows as f64 } else { 0.0 };
            println!(
                "\nbackfill: {} rows in {} batches (~{:.0}% of ~{} legacy rows){}{}",
                copied,
                b.get::<_, i64>(1),
                pct.min(100.0),
                legacy_rows,
                if b.get::<_, bool>(2) { ", complete" } else { "" },
                if b.get::<_, bool>(3) { ", PAUSED" } else { "" }
            );
            if ranges.len() > 1 {
                let done = ranges.iter().filter(|r| r.get::<_, bool>(2)).count();
                println!("  {} key ranges, {} done", ranges.len(), done);
            }
        }
    }
    match &verify {
        None => println!("last verify: none"),
        Some(v) => println!(
            "last verify: started {}, {}",
            v.get::<_, chrono::DateTime<chrono::Utc>>(0).to_rfc3339(),
            match v.get::<_, Option<bool>>(2) {
                Some(true) => "clean".to_string(),
                Some(false) => format!("{} differences", v.get::<_, Option<i64>>(3).unwrap_or(0)),
                None => "did not finish".to_string(),
            }
        ),
    }
    Ok(0)
}
