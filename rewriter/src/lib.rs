//! switchyard-rewriter (placeholder crate doc, replaced below)
