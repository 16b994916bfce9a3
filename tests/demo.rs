//! `switchyard demo`, the README's main command, runs to the end on its own.

mod support;

#[test]
fn the_demo_runs_to_the_end_with_a_small_dataset() {
    let out = std::process::Command::new(support::switchyard_bin())
        .args(["demo", "--users", "20", "--todos-per-user", "10"])
        .output()
        .expect("run switchyard demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("200 todos visible through it"), "{stdout}");
    assert!(stdout.contains("demo ready"), "{stdout}");
}
