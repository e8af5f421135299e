//! tuneclip-milvus against a real Milvus 2.3.5 server (from set-up's assets), started by
//! the tests themselves on free 127.0.0.1 ports and stopped by its pid.

mod backend;
mod roundtrip;
