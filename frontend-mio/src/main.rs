//! The `weir-mio` binary: the shared command line over the mio frontend.

fn main() {
    std::process::exit(weir_frontend::main("weir-mio", weir_mio::serve));
}
