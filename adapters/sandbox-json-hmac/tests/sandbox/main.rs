//! End-to-end tests of the sandbox json-hmac provider over real sockets on
//! ephemeral ports, with a tiny hand-written HTTP/1.1 client.

mod binary;
mod common;
mod compat;
mod concurrency;
mod control;
mod dialect;
mod faults;
mod samples;
