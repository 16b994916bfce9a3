//! The key space is covered end to end whatever the boundaries (sampled,
//! many jobs), and pacing loses no row.

use switchyard_shadow_verify as sv;

use super::common::{copied_db, one_id, verify_json, COLS};

#[tokio::test]
async fn sampled_boundaries_and_many_jobs_still_cover_the_ends_of_the_key_space() {
    let db = copied_db().await;
    let mut ids = Vec::new();
    for id in ["00000000-0000-0000-0000-000000000001", "ffffffff-ffff-ffff-ffff-fffffffffffe"] {
        ids.push(
            one_id(
                &db,
                &format!(
                    "INSERT INTO todos_active ({COLS}, depth) SELECT '{id}', user_id, project_id, NULL, title, description, \
                     status, priority, due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at, 0 \
                     FROM todos_active LIMIT 1 RETURNING id"
                ),
            )
            .await,
        );
    }
    db.client.batch_execute("ANALYZE todos").await.expect("analyze");
    let opts = sv::Options {
        database_url: db.url.clone(),
        jobs: 4,
        chunk_size: 50,
        exact_boundaries_up_to: 0,
        progress: false,
        ..sv::Options::default()
    };
    let report = sv::verify(&opts).await.expect("verify runs");
    assert!(report.chunks.len() > 3, "sampled boundaries give several chunks: {}", report.chunks.len());
    assert_eq!(report.rows.legacy, 600);
    let found: Vec<(String, sv::DifferenceKind)> = report.differences.iter().map(|d| (d.id.clone(), d.kind)).collect();
    assert_eq!(found, ids.iter().map(|i| (i.to_string(), sv::DifferenceKind::ExtraInNew)).collect::<Vec<_>>());
    assert_eq!(report.exit_code(), sv::EXIT_DIFFERENCES);
}

#[tokio::test]
async fn a_paced_comparison_still_compares_every_row_and_reports_its_limit() {
    // How the pace is kept is the throttle's unit tests' matter (pure
    // reservations on a shared clock); here: pacing loses nothing.
    let db = copied_db().await;
    let (code, report) = verify_json(&db, &["--max-rows-per-sec", "1000", "--jobs", "3"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["settings"]["max_rows_per_sec"], 1000, "{report:#}");
    assert_eq!(report["rows"]["legacy"], 600, "{report:#}");
}
