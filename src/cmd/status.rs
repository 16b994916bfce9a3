//! `switchyard status [--json] [--watch]`: where the migration stands, as
//! text or JSON, once or redrawn on a terminal. Gathered by
//! [`switchyard_control::status::gather`], like every proxy's status page.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use switchyard_control::status::{self, Status, StatusOptions};

use super::status_page::secs;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: String,
    #[arg(long, default_value = "todos")]
    pub table: String,
    /// One JSON object instead of text (the proxy's /status.json).
    #[arg(long)]
    pub json: bool,
    /// Redraw every this many seconds until interrupted.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<f64>,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let client = super::connect(&args.database_url).await?;
    let opts = StatusOptions::default();
    let Some(every) = args.watch else {
        let s = status::gather(&client, &args.table, &opts).await?;
        println!("{}", if args.json { serde_json::to_string_pretty(&s)? } else { render_text(&s) });
        return Ok(0);
    };
    let every = Duration::from_secs_f64(every.max(0.2));
    let clear = std::io::stdout().is_terminal();
    loop {
        let s = status::gather(&client, &args.table, &opts).await?;
        let text = if args.json { serde_json::to_string(&s)? } else { render_text(&s) };
        if clear {
            // Home and clear the screen, then draw.
            print!("\x1b[H\x1b[2J");
        }
        println!("{text}");
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(0),
        }
    }
}

/// The status as a terminal shows it.
pub fn render_text(s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: phase {} (epoch {}) since {} by {}{}",
        s.table,
        s.phase,
        s.epoch,
        s.since.to_rfc3339(),
        s.updated_by,
        s.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
    );
    let ladder: Vec<String> = s
        .ladder
        .iter()
        .map(|r| if r.state == "current" { format!("[{}]", r.phase) } else { r.phase.to_string() })
        .collect();
    let _ = writeln!(out, "  {}", ladder.join(" -> "));
    match &s.next {
        None => out.push_str("\nnext: none, new_only is the last phase\n"),
        Some(n) if n.blocked_by.is_empty() => {
            let _ = writeln!(out, "\nnext: {} is allowed now", n.phase);
        }
        Some(n) => {
            let _ = writeln!(out, "\nnext: {} still needs:", n.phase);
            for b in &n.blocked_by {
                let _ = writeln!(out, "  - {b}");
            }
        }
    }
    text_progress(&mut out, s);
    text_instances(&mut out, s);
    text_shadow(&mut out, s);
    out.push_str("\nhistory:\n");
    for h in &s.history {
        let _ = writeln!(
            out,
            "  {}  {} -> {} (epoch {})  {}  {}",
            h.at.to_rfc3339(),
            h.from.as_deref().unwrap_or("-"),
            h.to,
            h.epoch,
            h.by.as_deref().unwrap_or(""),
            h.reason.as_deref().unwrap_or("")
        );
    }
    out
}

fn text_progress(out: &mut String, s: &Status) {
    match &s.backfill {
        None => out.push_str("\nbackfill: not started\n"),
        Some(b) => {
            let _ = writeln!(
                out,
                "\nbackfill: {:.1}%, {} of ~{} rows in {} batches{}{}; {}; {}",
                b.percent,
                b.rows_copied,
                b.legacy_rows_estimate,
                b.batches,
                if b.completed { ", complete" } else { "" },
                if b.paused { ", PAUSED" } else { "" },
                b.rows_per_sec.map_or("rate unknown".into(), |r| format!("{r:.0} rows/s")),
                b.eta_secs.map_or("no ETA".into(), |e| format!("ETA {}", secs(e)))
            );
            if b.ranges.len() > 1 {
                let _ = writeln!(
                    out,
                    "  {} key ranges, {} done",
                    b.ranges.len(),
                    b.ranges.iter().filter(|r| r.done).count()
                );
            }
        }
    }
    match &s.last_verify {
        None => out.push_str("last verify: none\n"),
        Some(v) => {
            let _ = writeln!(out, "last verify: {}, {} ago", v.result(), secs(v.age_secs));
        }
    }
}

fn text_instances(out: &mut String, s: &Status) {
    out.push_str("\nproxy instances:\n");
    if s.instances.is_empty() {
        out.push_str("  none registered\n");
    }
    for i in &s.instances {
        let _ = writeln!(
            out,
            "  {}  heartbeat {} ago{}  on {} (epoch {}){}",
            i.instance_id,
            secs(i.heartbeat_age_secs),
            if i.live { "" } else { " (not live)" },
            i.acknowledged_phase.as_deref().unwrap_or("-"),
            i.acknowledged_epoch.map_or("-".into(), |e| e.to_string()),
            if i.current { "" } else { "  BEHIND" }
        );
    }
}

fn text_shadow(out: &mut String, s: &Status) {
    let _ = writeln!(
        out,
        "\nshadow reads: {} mismatch samples recorded (outcomes by kind: each proxy's /status page and /metrics)",
        s.shadow.recorded_mismatches
    );
    for m in &s.shadow.samples {
        let _ = writeln!(
            out,
            "  {} {}: {} {}  ({} only in legacy, {} only in new)",
            m.at.to_rfc3339(),
            m.phase.as_deref().unwrap_or("-"),
            m.statement,
            m.params.as_deref().unwrap_or(""),
            m.only_in_legacy,
            m.only_in_new
        );
    }
}
