//! `switchyard.shadow_settings` (migration 0011): shadow-read sample rates
//! by phase, overriding the proxy's configured ones at run time.

use tokio_postgres::GenericClient;

/// `(phase, sample_rate)` of every row.
pub async fn sample_rates(client: &impl GenericClient) -> Result<Vec<(String, f64)>, tokio_postgres::Error> {
    Ok(client
        .query("SELECT phase, sample_rate FROM switchyard.shadow_settings", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}
