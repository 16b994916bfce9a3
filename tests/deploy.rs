//! Deployment artefacts (placeholder; filled in below).
#[test]
fn placeholder() {}
