//! Integration tests of tuneclip-vision on real footage from registry packages.

mod faces;
mod transitions;
