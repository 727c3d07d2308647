//! The hub's gRPC contracts, compiled from the `.proto` files beside this
//! crate by a pure-Rust compiler (protox), so building needs no `protoc`.
//!
//! [`FILE_DESCRIPTOR_SET`] is the encoded descriptor set of the contracts the
//! hub serves, for server reflection.

/// `settlement.v1`: the partner contract.
pub mod settlement {
    /// Version 1 of the settlement contract.
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        tonic::include_proto!("settlement.v1");
    }
}

/// `admin.v1`: the operators' service.
pub mod admin {
    /// Version 1 of the admin service.
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        tonic::include_proto!("admin.v1");
    }
}

/// `adapter.v1`: the protocol between the hub and an adapter plugin.
pub mod adapter {
    /// Version 1 of the adapter plugin protocol.
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        tonic::include_proto!("adapter.v1");
    }
}

/// Encoded `google.protobuf.FileDescriptorSet` of the contracts the hub serves
/// (not `adapter.v1`, which plugins serve).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("hub_descriptor");
