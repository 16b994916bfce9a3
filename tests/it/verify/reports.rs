//! The reports CI reads (JUnit, JSON, Markdown) parse and agree, and a run
//! that cannot start exits 2.

use std::process::Command;

use serde_json::Value;
use switchyard_shadow_verify as sv;

use super::common::{copied_db, found, one_id, switchyard_verify};
use crate::support;

#[tokio::test]
async fn junit_json_and_markdown_reports_parse_and_hold_every_difference() {
    let db = copied_db().await;
    let changed = one_id(&db, "UPDATE todos_active SET priority = priority + 1 WHERE id = (SELECT min(id::text)::uuid FROM todos_active) RETURNING id").await;
    let missing = one_id(&db, "DELETE FROM todos_active WHERE id = (SELECT max(id::text)::uuid FROM todos_active WHERE parent_todo_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM todos c WHERE c.parent_todo_id = todos_active.id)) RETURNING id").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("verify.json");
    let junit = dir.path().join("reports/junit.xml");
    let md = dir.path().join("summary.md");
    let (code, out, err) = switchyard_verify(
        &db,
        &[
            "--output",
            json.to_str().expect("path"),
            "--output",
            junit.to_str().expect("path"),
            "--output",
            md.to_str().expect("path"),
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("DIFFERENCES: 2 found"), "stdout gets the text report: {out}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json file")).expect("JSON parses");
    let mut f = found(&report);
    f.sort();
    let mut expected = vec![
        (changed.to_string(), "different_values".to_string()),
        (missing.to_string(), "missing_in_new".to_string()),
    ];
    expected.sort();
    assert_eq!(f, expected);

    // Python's XML parser is strict: it refuses anything not well-formed.
    let script = "import sys, xml.etree.ElementTree as ET\n\
                  root = ET.parse(sys.argv[1]).getroot()\n\
                  suite = root.find('testsuite')\n\
                  print(suite.get('tests'), suite.get('failures'))\n\
                  for f in root.iter('failure'): print(f.get('message'))";
    let py = Command::new("python3").args(["-c", script, junit.to_str().expect("path")]).output().expect("run python3");
    assert!(py.status.success(), "JUnit XML does not parse: {}", String::from_utf8_lossy(&py.stderr));
    let py_out = String::from_utf8_lossy(&py.stdout);
    let mut lines = py_out.lines();
    let counts = lines.next().unwrap_or_default();
    let chunks = report["chunks"].as_array().map_or(0, Vec::len);
    let failing_chunks = report["chunks"].as_array().map_or(0, |c| c.iter().filter(|c| c["matched"] == false).count());
    assert_eq!(counts, format!("{} {failing_chunks}", chunks + 1), "tests = chunks + depth check");
    let failures: Vec<&str> = lines.collect();
    assert_eq!(failures.len(), 2, "{py_out}");
    assert!(failures.contains(&format!("different_values {changed} (columns: priority)").as_str()), "{py_out}");
    assert!(failures.contains(&format!("missing_in_new {missing}").as_str()), "{py_out}");

    let summary = std::fs::read_to_string(&md).expect("markdown file");
    assert!(summary.contains("❌ **2 differences**"), "{summary}");
    assert!(summary.contains(&changed.to_string()) && summary.contains(&missing.to_string()), "{summary}");

    let run = sv::last_finished(&db.client, "todos").await.expect("read verify_runs").expect("recorded");
    assert_eq!((run.clean, run.differences), (Some(false), Some(2)));
}

#[tokio::test]
async fn without_the_new_schema_verify_cannot_run() {
    let db = support::legacy_db().await;
    let (code, out, err) = switchyard_verify(&db, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("todos_active does not exist"), "{err}");
}
