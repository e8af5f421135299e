//! Generated gRPC types and stubs for `proto/tuneclip/v1/tuneclip.proto` (tonic + prost).
//! Only this crate and `tuneclip-server` know protobuf types; conversions from the core
//! types live in the server.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("tuneclip.v1");

    /// Encoded descriptors of the tuneclip.v1 package, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tuneclip_descriptor");
}
