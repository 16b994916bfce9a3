//! The behaviour specifications of rewriting on the wire, through the real
//! `switchyard serve`: every write form of the corpus (`support::write_forms`)
//! by four clients in every phase against a twin database; phase flips while
//! transactions are open and prepared statements across flips; two proxy
//! instances flipping together and holding new_only back while a transaction
//! runs an older phase; rolling phases back; the legacy foreign-key actions
//! in every phase (I7); refusals in the middle of a pipeline; locking reads and
//! cursors over todos, by two sessions, as on legacy.

use crate::support::fixture;

#[path = "wire_phases/common.rs"]
#[allow(dead_code)]
pub(crate) mod common;

#[path = "wire_phases/clients.rs"]
mod clients;

#[path = "wire_phases/psql.rs"]
mod psql;

#[path = "wire_phases/forms.rs"]
mod forms;

#[path = "wire_phases/flips.rs"]
mod flips;

#[path = "wire_phases/cascades.rs"]
mod cascades;

#[path = "wire_phases/pipeline.rs"]
mod pipeline;

#[path = "wire_phases/locking.rs"]
mod locking;

#[path = "wire_phases/cursors.rs"]
mod cursors;
