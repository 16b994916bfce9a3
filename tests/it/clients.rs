//! Real applications' drivers and ORMs see through the proxy exactly what
//! they see without it (I5), in every phase: pgjdbc (Java), node-postgres
//! (JavaScript) and the Django ORM (Python, client- and server-side
//! binding), each running the TodoList service layer — create with
//! subtasks, list with filters, ordering and pagination, change status,
//! complete, edit, hierarchy walk, upsert by id, locking reads, cursors,
//! batch writes, transactions, delete with cascading children, errors —
//! once against a direct twin database and once through `switchyard serve`,
//! with every observation (rows, affected-row counts, command tags,
//! generated keys, column metadata, errors with all their fields) compared.
//!
//! The client programs are in tests/java/, tests/node/ and tests/python/
//! (django_*); scripts/ensure-java.sh, scripts/ensure-node.sh and
//! scripts/ensure-python-drivers.sh install what they need. docs/clients.md
//! describes the suites.

#[path = "clients/transcript.rs"]
mod transcript;

#[path = "clients/verdict.rs"]
mod verdict;

#[path = "clients/known.rs"]
mod known;

#[path = "clients/walk.rs"]
mod walk;

#[path = "clients/node.rs"]
mod node;

#[path = "clients/java.rs"]
mod java;

#[path = "clients/django.rs"]
mod django;
