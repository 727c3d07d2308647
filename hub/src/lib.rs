//! The hub: a gRPC gateway that authenticates partners, journals every money
//! movement durably and idempotently, and routes each call through the
//! adapter of the provider it targets.
//!
//! `main.rs` only parses arguments; everything here can be driven by tests.
//! Module map: [`config`] (layered, validated configuration), [`domain`]
//! (ids and records), [`journal`] (durable store), [`engine`] (the money
//! path), [`registry`] (dialects and providers from config), [`resilience`]
//! (breakers, retries, bulkheads, failover), [`resolver`] (unknown outcomes
//! resolved, crash recovery, dead letters), [`auth`] (API keys), [`service`]
//! (the settlement contract), [`server`] (assembly and shutdown), [`demo`]
//! (the one-command demo), [`echo`] (a no-network dialect for
//! benchmarks), [`audit`] (the journal checked against each
//! provider's ledger), [`error`] (errors and their gRPC status).

pub mod admin;
pub mod audit;
pub mod auth;
pub mod config;
pub mod demo;
pub mod domain;
pub mod echo;
pub mod engine;
pub mod error;
pub mod exchange_log;
pub mod journal;
pub mod jwt;
pub mod limits;
pub mod metrics;
pub mod operators;
pub mod registry;
pub mod reload;
pub mod resilience;
pub mod resolver;
pub mod server;
pub mod service;
pub mod swap;
pub mod telemetry;
pub mod tls;
