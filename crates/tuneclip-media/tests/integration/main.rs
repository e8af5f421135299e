//! Integration tests of tuneclip-media on files made by the ffmpeg CLI.

mod audio_formats;
mod damaged_video;
mod rotated_video;
