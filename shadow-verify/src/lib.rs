//! switchyard-shadow-verify (placeholder crate doc, replaced below)
