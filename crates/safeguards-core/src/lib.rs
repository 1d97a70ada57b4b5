//! The safeguards engine in pure Rust: every canonical event through the five guards, one decision out.
//!
//! The Python package (`safeguards`) keeps the policy language, the store, adapters and the command
//! line; this crate holds the semantics that run per event. It has no Python in it: the binding
//! (`crates/safeguards-python`, the module `safeguards._core`) converts at the edge.
#![forbid(unsafe_code)]

pub mod columnar;
pub mod decision;
pub mod engine;
pub mod event;
pub mod fastmap;
pub mod json_line;
pub mod json_out;
pub mod num;
pub mod policy;
pub mod pyfmt;
pub mod screen;
pub mod session;
pub mod sidecar;
pub mod timestamp;
mod unprintable;
