//! Integration tests of tuneclip-audio on real and generated songs.

mod librosa_reference;
mod loudness_reference;
mod midi_songs;
