//! `policy test`: table-driven cases run against a policy, offline. `read` reads and checks
//! a cases file; `run` judges each case and reports.

mod read;
mod run;

pub use read::{CaseOptions, ExpectedRule, ImageName, PLACEHOLDER_DIGEST};
pub use run::{CaseReport, CaseResult, run_cases};
