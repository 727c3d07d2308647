//! End-to-end tests of the sandbox form-md5 provider over real sockets
//! (`127.0.0.1:0`), with a minimal raw HTTP client and MD5 signing written
//! here, apart from the crate's own.

mod amounts;
mod binary;
mod common;
mod concurrency;
mod control;
mod dialect;
mod faults;
mod samples;
