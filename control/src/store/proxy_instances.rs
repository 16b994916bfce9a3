//! `switchyard.proxy_instances` (migration 0001): the registry of proxy
//! instances. Each one registers, sends heartbeats, and acknowledges the
//! phase epoch it runs; the phase guards and `status` read it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use crate::phase::Phase;

/// Who an instance is.
#[derive(Debug, Clone)]
pub struct Registration {
    pub instance_id: String,
    pub host: String,
    pub pid: i32,
    pub version: String,
}

impl Registration {
    /// `host:pid:random`, unique per process start.
    pub fn for_this_process() -> Registration {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown-host".into());
        let pid = std::process::id() as i32;
        let suffix: u32 = rand::random();
        Registration {
            instance_id: format!("{host}:{pid}:{suffix:08x}"),
            host,
            pid,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Inserts or refreshes the instance's row.
pub async fn register(client: &impl GenericClient, r: &Registration) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO switchyard.proxy_instances (instance_id, host, pid, version) VALUES ($1, $2, $3, $4)
             ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = now()",
            &[&r.instance_id, &r.host, &r.pid, &r.version],
        )
        .await?;
    Ok(())
}

/// Records a heartbeat and the phase and epoch this instance now runs
/// (registering it again if its row went away).
pub async fn heartbeat(
    client: &impl GenericClient,
    r: &Registration,
    phase: Phase,
    epoch: i64,
) -> Result<(), tokio_postgres::Error> {
    let updated = client
        .execute(
            "UPDATE switchyard.proxy_instances SET heartbeat_at = now(), acknowledged_phase = $2, acknowledged_epoch = $3
             WHERE instance_id = $1",
            &[&r.instance_id, &phase.as_str(), &epoch],
        )
        .await?;
    if updated == 0 {
        register(client, r).await?;
        client
            .execute(
                "UPDATE switchyard.proxy_instances SET acknowledged_phase = $2, acknowledged_epoch = $3 WHERE instance_id = $1",
                &[&r.instance_id, &phase.as_str(), &epoch],
            )
            .await?;
    }
    Ok(())
}

/// Removes the instance (clean shutdown), so guards stop waiting for it.
pub async fn deregister(client: &impl GenericClient, instance_id: &str) -> Result<(), tokio_postgres::Error> {
    client.execute("DELETE FROM switchyard.proxy_instances WHERE instance_id = $1", &[&instance_id]).await?;
    Ok(())
}

/// An instance as `switchyard status` shows it.
#[derive(Debug, Clone)]
pub struct InstanceRow {
    pub instance_id: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_age_secs: f64,
    pub acknowledged_phase: Option<String>,
    pub acknowledged_epoch: Option<i64>,
}

/// Every registered instance, oldest first.
pub async fn list(client: &impl GenericClient) -> Result<Vec<InstanceRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT instance_id, host, started_at, extract(epoch FROM now() - heartbeat_at)::float8,
                    acknowledged_phase, acknowledged_epoch
             FROM switchyard.proxy_instances ORDER BY started_at",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| InstanceRow {
            instance_id: r.get(0),
            host: r.get(1),
            started_at: r.get(2),
            heartbeat_age_secs: r.get(3),
            acknowledged_phase: r.get(4),
            acknowledged_epoch: r.get(5),
        })
        .collect())
}

/// What a live instance acknowledged, as stored (the phase unparsed).
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledged {
    pub instance_id: String,
    pub phase: Option<String>,
    pub epoch: Option<i64>,
}

/// Instances that have sent a heartbeat within `liveness`, by id.
pub async fn live(client: &impl GenericClient, liveness: Duration) -> Result<Vec<Acknowledged>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT instance_id, acknowledged_phase, acknowledged_epoch FROM switchyard.proxy_instances
             WHERE heartbeat_at > now() - make_interval(secs => $1) ORDER BY instance_id",
            &[&liveness.as_secs_f64()],
        )
        .await?;
    Ok(rows.iter().map(|r| Acknowledged { instance_id: r.get(0), phase: r.get(1), epoch: r.get(2) }).collect())
}

/// How many instances live within `liveness` have not acknowledged `epoch`.
pub async fn behind(client: &impl GenericClient, epoch: i64, liveness: Duration) -> Result<i64, tokio_postgres::Error> {
    Ok(client
        .query_one(
            "SELECT count(*) FROM switchyard.proxy_instances
             WHERE heartbeat_at > now() - make_interval(secs => $2) AND acknowledged_epoch IS DISTINCT FROM $1",
            &[&epoch, &liveness.as_secs_f64()],
        )
        .await?
        .get(0))
}
