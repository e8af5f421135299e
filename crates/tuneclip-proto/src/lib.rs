//! Generated gRPC types and stubs for `proto/tuneclip/v1/tuneclip.proto` (tonic + prost).
//! Only this crate and `tuneclip-server` know protobuf types; conversions from the core
//! types live in the server.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("tuneclip.v1");

    /// Encoded descriptors of the tuneclip.v1 package, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tuneclip_descriptor");

    impl BestClipsRequest {
        /// A request for a catalogued song, everything else the server's defaults.
        pub fn catalogue_song(song_id: impl Into<String>) -> Self {
            Self { song: Some(best_clips_request::Song::SongId(song_id.into())), ..Self::default() }
        }
        /// A request for an uploaded song (its whole file).
        pub fn uploaded_song(audio: Vec<u8>) -> Self {
            Self { song: Some(best_clips_request::Song::Audio(audio)), ..Self::default() }
        }
        /// A request for a song under one of the server's media roots.
        pub fn song_at(uri: impl Into<String>) -> Self {
            Self { song: Some(best_clips_request::Song::SongUri(uri.into())), ..Self::default() }
        }
    }
}
