//! Compiles loadgen's own minimal etcd KV proto with `protox`, a pure-Rust
//! protobuf compiler, so building the etcd driver needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = "proto/etcd_kv.proto";
    println!("cargo:rerun-if-changed={file}");
    let descriptors = protox::compile([file], ["proto"])?;
    tonic_prost_build::configure().build_server(false).bytes(".").compile_fds(descriptors)?;
    Ok(())
}
