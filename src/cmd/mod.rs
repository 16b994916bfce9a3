//! One module per subcommand: argument parsing and wiring, no logic of its own.

pub mod logging;
pub mod migrate;
pub mod rewrite;
pub mod seed_legacy;
pub mod serve;
