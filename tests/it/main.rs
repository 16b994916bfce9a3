//! The integration tests, one binary (as ripgrep keeps them): one
//! throwaway PostgreSQL cluster for the whole run (`switchyard-localpg`),
//! one database per test, one link instead of one per file. Each module is
//! the specification of one part of Switchyard; run one with
//! `cargo test --test it <module>::`, e.g. `cargo test --test it clients::`.

mod support;

mod archival_live;
mod backfill;
mod clients;
mod cockpit;
mod demo;
mod deploy;
mod dual_write;
mod faults;
mod harness;
mod job_locks;
mod maintain;
mod migrate;
mod migration_walk;
mod phases;
mod prometheus;
mod proxy;
mod python_clients;
mod rewriter;
mod schema;
mod shadow;
mod soak;
mod verify;
mod wire_phases;
mod wire_replies;
mod workload;
