//! The `weir-smol` binary: the shared command line over the smol frontend.

fn main() {
    std::process::exit(weir_frontend::main("weir-smol", weir_smol::serve_blocking));
}
