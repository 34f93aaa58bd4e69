//! The `serin` command: controller, local analysis, plugin tools and the embedded cluster.

fn main() -> std::process::ExitCode {
    serin::cli::main()
}
