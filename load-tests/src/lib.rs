//! Load tests of the hub: a load generator, the bare-gRPC ceiling it is
//! compared with in the same run, scenarios with faults, and the money
//! audit that ends every scenario.
//!
//! Module map: [`mix`] (which operations, in which proportions),
//! [`stats`] (HDR histograms per operation, errors by gRPC code, a time
//! series and the live progress line), [`generator`] (closed- and
//! open-loop drivers, what each call was told, the reconcile pass that
//! retries unanswered money calls with the same key), [`bare`] (the bare
//! tonic server: the ceiling), [`audit`] (generator vs journal vs sandbox
//! ledgers), [`report`] (the markdown report), [`procs`] (the hub, sandboxes and bare server as child
//! processes), [`scenario`] (the benchmarks and fault scenarios the
//! `hub-load` binary runs), [`targets`] (the full path against the
//! provider called directly, the memory soak, reads against a big
//! journal).
//!
//! Benchmarks are run by the binary (`hub-load --help`), never by tests;
//! the test suite runs a small bounded smoke of the generator.

pub mod audit;
pub mod bare;
pub mod generator;
pub mod mix;
pub mod procs;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod targets;
