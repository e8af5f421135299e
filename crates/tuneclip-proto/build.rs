fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let file = root.join("tuneclip/v1/tuneclip.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("tuneclip_descriptor.bin"))
        .compile_protos(&[file], &[root])?;
    Ok(())
}
