//! Compiles the contracts with protox (pure Rust, no `protoc`) and generates
//! prost messages and tonic services from the resulting descriptor set.

use std::path::PathBuf;

const PROTOS: &[&str] = &["settlement/v1/settlement.proto", "admin/v1/admin.proto"];

/// The adapter plugin protocol: compiled to Rust, but kept out of the hub's
/// descriptor set (the hub serves no plugin service, so reflection must not
/// list it).
const PLUGIN_PROTOS: &[&str] = &["adapter/v1/adapter.proto"];

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
    let plugin = protox::compile(PLUGIN_PROTOS.iter().map(|p| root.join(p)), [&root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(plugin)?;
    for p in PROTOS.iter().chain(PLUGIN_PROTOS) {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    Ok(())
}
