//! The kit over real sockets on ephemeral ports, with a toy dialect
//! ([`toy`]) and a tiny hand-written HTTP/1.1 client ([`common`]): the
//! transport, every fault kind, the counters, the control surface and the
//! handle, independent of any real provider dialect.

mod common;
mod control;
mod faults;
mod handle;
mod toy;
