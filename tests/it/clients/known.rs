//! The differences the client suites know of and do not fail on, each
//! waiting for a named item of the open work (issue 13's list, and the bugs
//! the suites found beyond it). Each is printed as a known difference on
//! every run, with its reason; a difference no entry covers fails the test.
//! An entry matches by symptom, as narrowly as the symptom allows, so that
//! it cannot hide another bug; remove it when its fix lands.

use super::verdict::Known;

pub const DIFFERENCES: &[Known] = &[];
