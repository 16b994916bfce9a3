//! switchyard-proxy (placeholder crate doc, replaced below)
