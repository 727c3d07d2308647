//! Compiles the contracts with protox (pure Rust, no `protoc`) and generates
//! prost messages and tonic services from the resulting descriptor set.

use std::path::PathBuf;

const PROTOS: &[&str] = &["settlement/v1/settlement.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let files = protox::compile(PROTOS.iter().map(|p| root.join(p)), [&root])?;
    std::fs::write(
        out.join("hub_descriptor.bin"),
        prost::Message::encode_to_vec(&files),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(files)?;
    for p in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    Ok(())
}
