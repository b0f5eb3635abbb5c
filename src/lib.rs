//! m: run AI coding agents in the background and stay in control of them.
//! ARCHITECTURE.md at the top of the repository maps the modules.

pub mod cli;
pub mod error;
pub mod model;
pub mod notify;
pub mod paths;
pub mod store;
pub mod agent;
