//! `switchyard demo`, the README's main command, walks the whole migration
//! with the app running and reports zero errors and a clean verify.

use crate::support;

use std::process::Command;

fn demo(args: &[&str]) -> (serde_json::Value, String) {
    let json = tempfile::NamedTempFile::new().expect("temp file");
    let path = json.path().to_string_lossy().into_owned();
    let out = Command::new(support::switchyard_bin())
        .arg("demo")
        .args(args)
        .args(["--json", &path])
        .output()
        .expect("run switchyard demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json.path()).expect("report file")).expect("JSON report");
    (report, stdout)
}

#[test]
fn the_demo_migrates_to_new_only_with_zero_errors_and_a_clean_verify() {
    let (report, stdout) =
        demo(&["--users", "30", "--todos-per-user", "20", "--clients", "4", "--phase-seconds", "1.5"]);
    assert_eq!(report["ok"], true, "{stdout}");
    assert_eq!(report["verify_clean"], true);
    assert_eq!(report["ledger_clean"], true);
    assert_eq!(report["workload"]["errors"], 0);
    assert!(report["rows_moved"].as_i64().unwrap_or(0) >= 600, "{stdout}");
    let phases: Vec<&str> =
        report["phases"].as_array().expect("phases").iter().filter_map(|p| p["phase"].as_str()).collect();
    for p in ["legacy", "dual_write", "read_new", "write_new", "new_only"] {
        assert!(phases.contains(&p), "{p} missing from {phases:?}");
    }
    // The seed's Phase 5.4: the partition key prunes to one partition.
    let m = report["measurements"].as_array().expect("measurements");
    assert_eq!(m[0]["partitions_scanned"], 1, "{stdout}");
    assert_eq!(m[1]["partitions_scanned"], 16, "{stdout}");
    assert!(stdout.contains("switchyard demo report"));
}
