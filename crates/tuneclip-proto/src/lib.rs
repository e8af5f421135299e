//! Generated gRPC types and stubs for `proto/tuneclip/v1/tuneclip.proto` (tonic + prost).
//! Only this crate and `tuneclip-server` know protobuf types; conversions from the core
//! types live in the server.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("tuneclip.v1");
}
