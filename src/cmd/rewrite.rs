//! `switchyard rewrite`: shows the plan for one statement in one phase, or
//! pre-flight checks many statements in every phase (`--check`).
//! Exit status: 0 planned, 3 refused (any refusal with `--check`), 2 could not run.

use std::io::Read;

use anyhow::Context;
use switchyard_rewriter::{lex, planner, Action, MigrationSpec, Phase, Plan};

/// Prints a line to stdout. A closed pipe (`switchyard rewrite … | head`)
/// ends the output quietly, where println! would panic.
fn emit(line: std::fmt::Arguments) {
    use std::io::Write as _;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

macro_rules! out {
    () => {
        emit(format_args!(""))
    };
    ($($arg:tt)*) => {
        emit(format_args!($($arg)*))
    };
}

#[derive(clap::Args)]
pub struct Args {
    /// The phase to plan for: legacy, dual_write, read_new, write_new, new_only.
    #[arg(long, required_unless_present = "check")]
    phase: Option<Phase>,
    /// A migration spec (TOML); the shipped todos spec when absent.
    #[arg(long, value_name = "FILE")]
    spec: Option<std::path::PathBuf>,
    /// Print one JSON object (or, with --check, one per statement).
    #[arg(long)]
    json: bool,
    /// The statement, instead of FILE or stdin. It may begin with a `--`
    /// comment: the value is taken as SQL, never as a flag.
    #[arg(long, value_name = "TEXT", conflicts_with = "file", allow_hyphen_values = true)]
    sql: Option<String>,
    /// Read many statements (one per line, or `;`-separated) and report, per
    /// phase, which pass through, which are rewritten and which are refused.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["sql", "file", "phase"])]
    check: Option<std::path::PathBuf>,
    /// A file holding the statement (`-` or absent: stdin).
    file: Option<std::path::PathBuf>,
}

fn load_spec(path: &Option<std::path::PathBuf>) -> anyhow::Result<MigrationSpec> {
    match path {
        None => Ok(MigrationSpec::default_todos()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading spec {}", p.display()))?;
            MigrationSpec::from_toml(&text).with_context(|| format!("spec {}", p.display()))
        }
    }
}

fn read_input(file: &Option<std::path::PathBuf>) -> anyhow::Result<String> {
    match file {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
        }
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading stdin")?;
            Ok(s)
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let spec = load_spec(&args.spec)?;
    if let Some(path) = &args.check {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(check(&spec, &text, args.json));
    }
    let phase = args.phase.context("--phase is required")?;
    let sql = match &args.sql {
        Some(s) => s.clone(),
        None => read_input(&args.file)?,
    };
    let plan = planner::plan(&spec, phase, &sql);
    if args.json {
        out!("{}", serde_json::to_string_pretty(&plan.to_json())?);
    } else {
        print_plan(&plan);
    }
    Ok(if plan.action == Action::Refuse { 3 } else { 0 })
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Passthrough => "passthrough",
        Action::Rewrite => "rewrite",
        Action::Refuse => "refuse",
    }
}

fn print_plan(plan: &Plan) {
    out!("action: {}", action_name(plan.action));
    if plan.action != Action::Refuse {
        out!("sql: {}", plan.sql);
    }
    let r = &plan.result;
    let tag = match r.command_tag {
        switchyard_rewriter::CommandTag::AsReported => "as reported".to_string(),
        t => t.render(0).map(|s| s.trim_end_matches(" 0").to_string() + " n").unwrap_or_default(),
    };
    let cols = r.client_columns.as_ref().map_or("as written".to_string(), |c| c.join(", "));
    out!("result: tag {tag}; rows {}; columns {cols}", if r.hide_rows { "hidden (sy_count)" } else { "shown" });
    if let Some(s) = &plan.shadow {
        out!("shadow: {}", s.counts_sql());
    }
    if let Some(reason) = &plan.reason {
        out!("reason: {reason}");
    }
}

fn check(spec: &MigrationSpec, text: &str, json: bool) -> u8 {
    let stmts = lex::split_statements(text);
    let mut refused_any = false;
    let mut totals = [[0usize; 3]; 5];
    let mut rows = Vec::new();
    for s in &stmts {
        let mut per_phase = serde_json::Map::new();
        let mut line = Vec::new();
        for (pi, phase) in Phase::ALL.into_iter().enumerate() {
            let p = planner::plan(spec, phase, s);
            let ai = match p.action {
                Action::Passthrough => 0,
                Action::Rewrite => 1,
                Action::Refuse => 2,
            };
            totals[pi][ai] += 1;
            refused_any |= p.action == Action::Refuse;
            per_phase.insert(
                phase.as_str().to_string(),
                serde_json::json!({"action": action_name(p.action), "reason": p.reason}),
            );
            line.push((phase, p));
        }
        rows.push((s.clone(), per_phase, line));
    }
    if json {
        for (s, per_phase, _) in &rows {
            out!("{}", serde_json::json!({"statement": s, "plans": per_phase}));
        }
    } else {
        for (s, _, line) in &rows {
            let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
            let short: String = one.chars().take(100).collect();
            out!("{short}");
            for (phase, p) in line {
                let reason =
                    if p.action == Action::Refuse { p.reason.clone().unwrap_or_default() } else { String::new() };
                out!("  {:<10} {:<11} {}", phase.as_str(), action_name(p.action), reason);
            }
        }
        out!();
        out!("{} statements", stmts.len());
        for (pi, phase) in Phase::ALL.into_iter().enumerate() {
            let [pass, rew, refu] = totals[pi];
            out!("  {:<10} passthrough {pass:>5}  rewrite {rew:>5}  refuse {refu:>5}", phase.as_str());
        }
    }
    if refused_any {
        3
    } else {
        0
    }
}
