//! End-to-end tests of the sandbox json-rsa provider over real sockets on
//! ephemeral ports, with a tiny hand-written HTTP/1.1 client that signs as
//! the operator.

mod binary;
mod common;
mod concurrency;
mod control;
mod dialect;
mod faults;
mod samples;
