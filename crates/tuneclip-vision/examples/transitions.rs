//! Print the transitions tuneclip finds in a video: `cargo run -p tuneclip-vision
//! --example transitions -- FILE`.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: transitions FILE");
        std::process::exit(2);
    };
    let video = match tuneclip_media::video::sample_frames(path.as_ref(), Default::default()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    for t in tuneclip_vision::detect_transitions(&video.frames, &Default::default()) {
        println!("{:>8.2} {:>8.2}  {:?} {:?}", t.start_s, t.end_s, t.kind, t.colour);
    }
}
