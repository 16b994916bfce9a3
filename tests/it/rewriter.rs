//! The rewriter against a real PostgreSQL: every write form of the corpus
//! (`support::write_forms`) in every phase leaves both schemas equal (an
//! independent comparison over all legacy columns, I3, depth) and returns
//! what the original statement returns on a twin database holding only the
//! legacy schema; reads in the new schema return the same rows; the shadow
//! statement runs and agrees.

#[path = "rewriter/twin.rs"]
mod twin;

#[path = "rewriter/writes.rs"]
mod writes;

#[path = "rewriter/reads.rs"]
mod reads;

#[path = "rewriter/cli.rs"]
mod cli;
