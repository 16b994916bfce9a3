//! What real drivers see of the proxy's answers, message by message, through
//! the real `switchyard serve` in every phase against a direct twin database:
//! the messages the client libraries of the other suites hide (Execute row
//! limits and PortalSuspended, every ErrorResponse field, RowDescription's
//! table OIDs, BackendKeyData, parameter counts above 32,767) are compared
//! here with a raw protocol client.

use crate::support::fixture;

use crate::wire_phases::common;

/// pgjdbc's Execute row limits: writes keep their command tags, RETURNING
/// rows suspend and continue as on PostgreSQL.
#[path = "wire_replies/row_limits.rs"]
mod row_limits;

/// Parse and Bind with up to 65,535 parameters, routed and passed through.
#[path = "wire_replies/many_parameters.rs"]
mod many_parameters;

/// The backend process id clients are told, NOTIFY's, and cancel through the proxy.
#[path = "wire_replies/backend_pid.rs"]
mod backend_pid;

/// Errors of statements on todos name legacy's table and constraints.
#[path = "wire_replies/errors.rs"]
mod errors;

/// RowDescription carries legacy todos' table OID and column numbers.
#[path = "wire_replies/metadata.rs"]
mod metadata;
