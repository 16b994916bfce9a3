//! The app keeps working while the migration walks forward and back
//! 16 clients through the proxy, 10 s a phase, while the phases go
//! legacy -> dual_write -> (backfill, verify) -> read_new -> write_new ->
//! read_new -> write_new. Zero client errors, and both schemas hold exactly
//! the acknowledged writes.

use crate::support;

#[test]
fn sixteen_clients_see_no_error_while_phases_flip_forward_and_back() {
    let json = tempfile::NamedTempFile::new().expect("temp file");
    let out = std::process::Command::new(support::switchyard_bin())
        .args(["demo", "--users", "100", "--todos-per-user", "50", "--clients", "16", "--phase-seconds", "10"])
        .args(["--walk", "dual_write,read_new,write_new,read_new,write_new", "--json"])
        .arg(json.path())
        .output()
        .expect("run the walk");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "walk failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json.path()).expect("report")).expect("JSON");
    let phases = report["phases"].as_array().expect("phases");
    let walked: Vec<&str> = phases.iter().filter_map(|p| p["phase"].as_str()).filter(|p| *p != "start").collect();
    assert_eq!(walked, ["legacy", "dual_write", "read_new", "write_new", "read_new", "write_new"]);
    for p in phases {
        assert_eq!(p["errors"], 0, "errors in {}: {}", p["phase"], p["first_errors"]);
    }
    let busy: Vec<&serde_json::Value> = phases.iter().filter(|p| p["phase"] != "start").collect();
    assert!(busy.iter().all(|p| p["ops"].as_u64().unwrap_or(0) > 0), "every phase served the app: {stdout}");
    assert_eq!(report["verify_clean"], true);
    assert_eq!(report["ledger_clean"], true, "both schemas hold exactly the acknowledged writes");
}
