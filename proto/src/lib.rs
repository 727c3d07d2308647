//! The hub's gRPC contracts, compiled from the `.proto` files beside this
//! crate by a pure-Rust compiler (protox), so building needs no `protoc`.
//!
//! [`FILE_DESCRIPTOR_SET`] is the encoded descriptor set of every contract,
//! for server reflection.

/// `settlement.v1`: the partner contract.
pub mod settlement {
    /// Version 1 of the settlement contract.
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        tonic::include_proto!("settlement.v1");
    }
}

/// Encoded `google.protobuf.FileDescriptorSet` of every contract in this crate.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("hub_descriptor");
