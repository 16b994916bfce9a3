//! `switchyard rewrite`: the rewriter's plans printed for one statement or
//! checked for a file of them, as text or JSON.

use crate::support;

fn rewrite_cli(args: &[&str], stdin: Option<&str>) -> (i32, String) {
    use std::io::Write;
    let mut cmd = std::process::Command::new(support::switchyard_bin());
    cmd.arg("rewrite").args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    cmd.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
    let mut child = cmd.spawn().expect("spawn switchyard rewrite");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("wait");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn switchyard_rewrite_prints_the_plan_as_json() {
    let (code, out) =
        rewrite_cli(&["--phase", "dual_write", "--json", "--sql", "UPDATE todos SET status = $1 WHERE id = $2"], None);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["action"], "rewrite");
    assert!(v["sql"].as_str().unwrap_or("").contains("switchyard.mirror_todos('U'"));
    assert_eq!(v["result"]["command_tag"], "update");
    assert_eq!(v["result"]["hide_rows"], true);
    assert!(v["shadow"].is_null());
    let (code, out) = rewrite_cli(&["--phase", "read_new", "--json"], Some("SELECT title FROM todos WHERE id = $1"));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(v["sql"].as_str().unwrap_or("").ends_with(") AS todos WHERE id = $1"));
    assert!(v["shadow"].as_str().unwrap_or("").contains("EXCEPT ALL"));
}

#[test]
fn switchyard_rewrite_exits_3_on_a_refusal() {
    let (code, out) = rewrite_cli(&["--phase", "write_new", "--sql", "TRUNCATE todos"], None);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("action: refuse") && out.contains("TRUNCATE"), "{out}");
    let (code, _) = rewrite_cli(&["--phase", "legacy", "--sql", "TRUNCATE todos"], None);
    assert_eq!(code, 0, "the legacy phase refuses nothing");
}

#[test]
fn switchyard_rewrite_check_reports_every_phase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queries.sql");
    std::fs::write(
        &path,
        "SELECT * FROM users WHERE id = $1\nUPDATE todos SET title = $1 WHERE id = $2\nCOPY todos FROM STDIN\n",
    )
    .expect("write");
    let p = path.to_string_lossy().into_owned();
    let (code, out) = rewrite_cli(&["--check", &p], None);
    assert_eq!(code, 3, "a refusal in some phase: {out}");
    assert!(out.contains("3 statements"), "{out}");
    assert!(out.contains("dual_write passthrough     1  rewrite     1  refuse     1"), "{out}");
    let (code, out) = rewrite_cli(&["--check", &p, "--json"], None);
    assert_eq!(code, 3);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["plans"]["write_new"]["action"], "rewrite");
    assert_eq!(lines[2]["plans"]["new_only"]["action"], "refuse");
}

#[test]
fn switchyard_rewrite_takes_sql_that_starts_with_a_comment() {
    let (code, out) = rewrite_cli(&["--phase", "dual_write", "--sql", "-- note\nSELECT 1"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("action: passthrough"), "{out}");
    let (code, out) =
        rewrite_cli(&["--phase", "dual_write", "--json", "--sql", "-- note\nDELETE FROM todos WHERE id = $1"], None);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["action"], "rewrite");
    assert_eq!(v["result"]["command_tag"], "delete");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queries.sql");
    std::fs::write(
        &path,
        "-- the app's queries\nUPDATE todos SET title = $1 WHERE id = $2;\n-- health check\nSELECT 1;\n",
    )
    .expect("write");
    let (code, out) = rewrite_cli(&["--check", &path.to_string_lossy()], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 statements"), "{out}");
    assert!(out.contains("dual_write passthrough     1  rewrite     1  refuse     0"), "{out}");
}
