//! The cockpit: every `switchyard serve` answers on its metrics port with a
//! status page and `/status.json`, gathered like `switchyard status`; the
//! page is checked in a real headless Chromium (Debian's `chromium`,
//! installed by scripts/ensure-chromium.sh).

use crate::support;

use std::process::Command;

use serde_json::Value;
use support::http::{free_port, get};

async fn proxied(db: &support::TestDb) -> (support::ProxyProcess, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let proxy = support::spawn_proxy_with(db, &["--metrics-listen", &listen]).await;
    support::wait_for_instances(db).await;
    (proxy, port)
}

async fn status_json(port: u16) -> Value {
    let (code, body) = get(port, "/status.json").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/status.json is JSON ({e}): {body}"))
}

fn current_rung(v: &Value) -> Vec<&str> {
    let ladder = v["ladder"].as_array().expect("ladder");
    ladder.iter().filter(|r| r["state"] == "current").filter_map(|r| r["phase"].as_str()).collect()
}

async fn move_to(db: &support::TestDb, phase: &str) {
    support::force_phase(db, phase).await;
    support::wait_for_instances(db).await;
}

#[tokio::test]
async fn status_json_shows_the_ladder_the_next_guard_the_instances_and_the_history_as_phases_change() {
    let db = support::migrated_db().await;
    let (_proxy, port) = proxied(&db).await;

    let v = status_json(port).await;
    assert_eq!((&v["phase"], &v["epoch"]), (&Value::from("legacy"), &Value::from(0)), "{v}");
    assert_eq!(current_rung(&v), ["legacy"]);
    assert_eq!(v["next"]["phase"], "dual_write");
    assert_eq!(v["next"]["blocked_by"], serde_json::json!([]), "legacy -> dual_write has no guard");
    let instances = v["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 1, "{v}");
    assert_eq!((&instances[0]["live"], &instances[0]["current"]), (&Value::Bool(true), &Value::Bool(true)));
    assert!(v["backfill"].is_null() && v["last_verify"].is_null(), "{v}");
    let outcomes = v["shadow"]["outcomes"].as_array().expect("this instance's shadow outcomes");
    assert!(outcomes.iter().any(|o| o["kind"] == "mismatch"), "{v}");

    move_to(&db, "dual_write").await;
    db.client
        .batch_execute(
            "INSERT INTO switchyard.backfill_progress (table_name, rows_copied, batches, started_at, updated_at)
             VALUES ('todos', 40, 2, now() - interval '10 seconds', now());
             INSERT INTO switchyard.shadow_mismatches (phase, statement, only_in_legacy, only_in_new)
             VALUES ('dual_write', 'SELECT title FROM todos WHERE id = $1', 1, 0)",
        )
        .await
        .expect("a backfill under way and a recorded mismatch");
    let v = status_json(port).await;
    assert_eq!((&v["phase"], &v["epoch"]), (&Value::from("dual_write"), &Value::from(1)), "{v}");
    assert_eq!(current_rung(&v), ["dual_write"]);
    assert_eq!(v["next"]["phase"], "read_new");
    let blocked: Vec<&str> =
        v["next"]["blocked_by"].as_array().expect("blocked_by").iter().filter_map(|b| b.as_str()).collect();
    assert!(blocked.iter().any(|b| b.contains("backfill")), "{blocked:?}");
    assert!(blocked.iter().any(|b| b.contains("verify")), "{blocked:?}");
    assert_eq!(v["backfill"]["rows_copied"], 40);
    assert!(v["backfill"]["rows_per_sec"].as_f64().is_some_and(|r| r > 0.0), "{v}");
    assert_eq!(v["instances"][0]["acknowledged_epoch"], 1);
    assert_eq!(v["shadow"]["recorded_mismatches"], 1);
    assert_eq!(v["shadow"]["samples"][0]["statement"], "SELECT title FROM todos WHERE id = $1");
    let history: Vec<&str> =
        v["history"].as_array().expect("history").iter().filter_map(|h| h["to"].as_str()).collect();
    assert_eq!(history, ["legacy", "dual_write"]);

    let cli = Command::new(support::switchyard_bin())
        .args(["status", "--json", "--database-url", &db.url])
        .output()
        .expect("switchyard status --json");
    let cli: Value = serde_json::from_slice(&cli.stdout).expect("status --json is JSON");
    for key in ["phase", "epoch", "ladder", "next", "history"] {
        assert_eq!(cli[key], v[key], "status --json and /status.json agree on {key}");
    }
}

/// Chromium's DOM of `url` after its scripts ran for a few (virtual) seconds.
fn chromium_dom(url: &str) -> String {
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("chromium is not installed: run scripts/ensure-chromium.sh");
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_status_page_in_a_browser_shows_the_current_phase_and_what_the_next_step_needs() {
    let db = support::migrated_db().await;
    let (_proxy, port) = proxied(&db).await;
    let url = format!("http://127.0.0.1:{port}/status");

    let dom = tokio::task::spawn_blocking({
        let url = url.clone();
        move || chromium_dom(&url)
    })
    .await
    .expect("chromium task");
    assert!(dom.contains(r#"<li class="current" data-phase="legacy">"#), "{dom}");
    assert!(dom.contains("dual_write is allowed now"), "{dom}");
    assert!(dom.contains(r#"<span id="refreshed" class="ok">refreshed "#), "the page's script refreshed it:\n{dom}");

    move_to(&db, "dual_write").await;
    let dom = tokio::task::spawn_blocking(move || chromium_dom(&url)).await.expect("chromium task");
    assert!(dom.contains(r#"<li class="current" data-phase="dual_write">"#), "{dom}");
    assert!(dom.contains(r#"<li class="done" data-phase="legacy">"#), "{dom}");
    assert!(dom.contains("read_new still needs:") && dom.contains("needs a completed backfill"), "{dom}");
    assert!(dom.contains("legacy → dual_write"), "the history shows the change:\n{dom}");
}
