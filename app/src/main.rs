//! `dmn`: train, evaluate and stream a Dynamic Memory Network from the command line.

fn main() -> std::process::ExitCode {
    dmn_app::cli::main()
}
