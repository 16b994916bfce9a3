//! The legacy TodoList application Switchyard migrates from: its schema
//! (design §1) and a generator of realistic data for it.

/// The legacy schema, verbatim from design §1.
pub const SCHEMA_SQL: &str = include_str!("schema.sql");
