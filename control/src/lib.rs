//! The control plane of a Switchyard migration, spoken to PostgreSQL over side
//! connections: schema migrations, the legacy application's schema and data,
//! and (in later modules) phases and their guards, the backfill and the
//! maintenance jobs.

pub mod legacy;
