//! Fuzz the song decode entry point: any bytes, under any of the extensions songs come
//! with, must give audio or a typed error — never a panic, a hang or a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

const EXTENSIONS: [&str; 7] = ["mp3", "ogg", "flac", "wav", "m4a", "opus", "bin"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("input.{}", EXTENSIONS[usize::from(selector) % EXTENSIONS.len()]));
    std::fs::write(&path, bytes).expect("write");
    let _ = tuneclip_media::audio::decode_mono(&path, 22_050);
});
