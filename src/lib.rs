//! m: run AI coding agents in the background and stay in control of them.
//! ARCHITECTURE.md at the top of the repository maps the modules.

pub mod agent;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod error;
pub mod model;
pub mod notify;
pub mod paths;
pub mod policy;
pub mod presets;
pub mod process;
pub mod protocol;
pub mod question;
pub mod service;
pub mod store;
pub mod workspace;
