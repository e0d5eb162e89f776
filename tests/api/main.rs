//! Every HTTP and binary test of Casedesk, in one test binary: the crate and the
//! harness in `common` are compiled and linked once, not once per file.
//!
//! Each module is one subject; run one with `cargo test --test api MODULE::`
//! (for example `cargo test --test api records::`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod access;
mod accounts;
mod architecture;
mod audit;
mod audit_chain;
mod binary;
mod care;
mod connections;
mod contract;
mod conventions;
mod erasure;
mod exchange;
mod faults;
mod four_eyes;
mod free_text;
mod hostile;
mod idempotency;
mod integration;
mod lock_order;
mod one_place;
mod records;
mod replicas;
mod shelter;
mod statistics;
mod store;
mod throttling;
