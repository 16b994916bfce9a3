//! Observability that is checked, not assumed: the shipped alert rules pass
//! `promtool check rules`, a real Prometheus (Debian's `prometheus`,
//! installed by scripts/ensure-prometheus.sh) scrapes a running proxy and
//! evaluates one of the rules' expressions, and the jobs' series
//! (`switchyard_backfill_*`, `switchyard_maintenance_*`) are exported by the
//! CLI runs' `--metrics-listen` and by `serve --backfill`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::http::{free_port, get, metric_value, try_get};
use support::ChildGuard;

fn alerts_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts.yml")
}

fn tool(name: &str) -> &str {
    let found = Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "{name} is not installed: run scripts/ensure-prometheus.sh");
    name
}

/// Polls `check` every 100 ms until it gives a value.
async fn wait_for<T>(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn the_shipped_alert_rules_pass_promtool_check_rules() {
    let out = Command::new(tool("promtool")).args(["check", "rules"]).arg(alerts_file()).output().expect("promtool");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

/// The `expr` of alert `name` in alerts.yml.
fn alert_expr(name: &str) -> String {
    let text = std::fs::read_to_string(alerts_file()).expect("read alerts.yml");
    let doc: Value = serde_yaml_ng::from_str(&text).expect("alerts.yml is YAML");
    let groups = doc["groups"].as_array().expect("groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .find(|r| r["alert"] == name)
        .and_then(|r| r["expr"].as_str())
        .unwrap_or_else(|| panic!("no alert {name} in alerts.yml"))
        .to_string()
}

/// A throwaway Prometheus scraping `target` every second as job
/// `switchyard`, with the shipped rules; returns it and its web port.
fn start_prometheus(dir: &Path, target: &str) -> (ChildGuard, u16) {
    std::fs::copy(alerts_file(), dir.join("alerts.yml")).expect("copy alerts.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - alerts.yml\n\
         scrape_configs:\n  - job_name: switchyard\n    static_configs:\n      - targets: ['{target}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
    let port = free_port();
    let child = Command::new(tool("prometheus"))
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    (ChildGuard::new(child), port)
}

/// Percent-encodes a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The result vector of an instant query through Prometheus's HTTP API;
/// `None` while it does not answer yet.
async fn query(port: u16, expr: &str) -> Option<Vec<Value>> {
    let (code, body) = try_get(port, &format!("/api/v1/query?query={}", encode(expr))).await.ok()?;
    let v: Value = serde_json::from_str(&body).ok()?;
    assert!(code == 200 && v["status"] == "success", "query {expr}: {body}");
    v["data"]["result"].as_array().cloned()
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_proxy_and_the_refused_statements_alert_fires() {
    let db = support::migrated_db().await;
    let metrics_port = free_port();
    let listen = format!("127.0.0.1:{metrics_port}");
    let proxy = support::spawn_proxy_with(&db, &["--metrics-listen", &listen]).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_prometheus, port) = start_prometheus(dir.path(), &listen);

    wait_for("Prometheus to scrape the proxy", Duration::from_secs(60), async || {
        let up = query(port, "up{job=\"switchyard\"} == 1").await?;
        (!up.is_empty()).then_some(())
    })
    .await;
    let refused = proxy.connect().await.batch_execute("TRUNCATE todos").await.expect_err("refused in dual_write");
    assert_eq!(refused.code().map(|c| c.code()), Some("0A000"), "{refused:?}");

    let expr = alert_expr("SwitchyardStatementsRefused");
    let result = wait_for("the alert expression to see the refusal", Duration::from_secs(60), async || {
        query(port, &expr).await.filter(|r| !r.is_empty())
    })
    .await;
    assert_eq!(result[0]["metric"]["instance"], listen.as_str(), "{result:?}");
    let value: f64 = result[0]["value"][1].as_str().and_then(|v| v.parse().ok()).expect("sample value");
    assert!(value > 0.0, "{result:?}");
    wait_for("the rule to fire", Duration::from_secs(60), async || {
        let (_, body) = get(port, "/api/v1/alerts").await;
        let v: Value = serde_json::from_str(&body).ok()?;
        let alerts = v["data"]["alerts"].as_array()?;
        alerts
            .iter()
            .any(|a| a["labels"]["alertname"] == "SwitchyardStatementsRefused" && a["state"] == "firing")
            .then_some(())
    })
    .await;
}

/// A migrated database in dual_write with `n` legacy todos to backfill.
async fn todos_to_backfill(users: u32, per_user: u32) -> (support::TestDb, i64) {
    let mut db = support::migrated_db().await;
    let opts = switchyard_control::legacy::SeedOptions {
        users,
        todos_per_user: per_user,
        seed: 7,
        anchor: chrono::Utc::now(),
    };
    switchyard_control::legacy::load(&mut db.client, &opts).await.expect("seed legacy data");
    support::force_phase(&db, "dual_write").await;
    let n: i64 = db.client.query_one("SELECT count(*) FROM todos", &[]).await.expect("count").get(0);
    (db, n)
}

/// Scrapes `/metrics` on `port` until `series` reaches `expected`; the
/// whole page then.
async fn scraped_until(port: u16, series: &str, expected: f64) -> String {
    scraped_or_last(port, series, expected)
        .await
        .unwrap_or_else(|last| panic!("{series} never reached {expected}:\n{last}"))
}

/// As [`scraped_until`]; after two minutes without, the last page scraped.
async fn scraped_or_last(port: u16, series: &str, expected: f64) -> Result<String, String> {
    let mut last = String::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        if let Ok((200, body)) = try_get(port, "/metrics").await {
            if metric_value(&body, series).is_some_and(|v| v >= expected) {
                return Ok(body);
            }
            last = body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

/// What the backfill waits on, for a failure message: the phase, the
/// instances it needs on a mirroring phase, its own progress.
async fn backfill_state(db: &support::TestDb) -> String {
    let mut out = String::new();
    for sql in [
        "SELECT phase, epoch FROM switchyard.migration_state",
        "SELECT instance_id, acknowledged_phase, acknowledged_epoch, now() - heartbeat_at AS age FROM switchyard.proxy_instances",
        "SELECT * FROM switchyard.backfill_progress",
    ] {
        match db.client.simple_query(sql).await {
            Ok(msgs) => {
                out.push_str(&format!("{sql}:\n"));
                for m in msgs {
                    if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                        let cells: Vec<&str> = (0..r.len()).map(|i| r.get(i).unwrap_or("NULL")).collect();
                        out.push_str(&format!("  {}\n", cells.join(" | ")));
                    }
                }
            }
            Err(e) => out.push_str(&format!("{sql}: {e}\n")),
        }
    }
    out
}

fn cli_with_metrics(args: &[&str], db: &support::TestDb, port: u16) -> ChildGuard {
    ChildGuard::new(
        Command::new(support::switchyard_bin())
            .args(args)
            .args(["--metrics-linger", "60s", "--database-url", &db.url])
            .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn switchyard"),
    )
}

#[tokio::test]
async fn the_backfill_and_maintenance_cli_runs_export_their_series_on_their_own_metrics_listen() {
    let (db, n) = todos_to_backfill(4, 25).await;
    let port = free_port();
    let _backfill = cli_with_metrics(&["backfill", "--ignore-instances"], &db, port);
    let page = scraped_until(port, "switchyard_backfill_rows_total", n as f64).await;
    assert_eq!(metric_value(&page, "switchyard_backfill_rows_total"), Some(n as f64), "each row counted once:\n{page}");
    assert!(page.contains("# HELP switchyard_backfill_rows_total"), "{page}");

    let port = free_port();
    let _maintain = cli_with_metrics(&["maintain", "daily"], &db, port);
    let series = r#"switchyard_maintenance_steps_total{job="daily",step="analyze",outcome="succeeded"}"#;
    let page = scraped_until(port, series, 1.0).await;
    assert!(page.contains("switchyard_maintenance_last_success_timestamp_seconds{job=\"daily\"}"), "{page}");
}

#[tokio::test]
async fn serve_with_backfill_exports_the_backfill_series_after_its_own() {
    let (db, n) = todos_to_backfill(4, 25).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _proxy = support::spawn_proxy_with(&db, &["--backfill", "--metrics-listen", &listen]).await;
    let page = match scraped_or_last(port, "switchyard_backfill_rows_total", n as f64).await {
        Ok(page) => page,
        Err(last) => panic!("the backfill never reported {n} rows:\n{}\n{last}", backfill_state(&db).await),
    };
    assert_eq!(metric_value(&page, "switchyard_backfill_rows_total"), Some(n as f64), "{page}");
    assert!(page.contains("switchyard_client_connections "), "the proxy's own series are still there:\n{page}");
}
