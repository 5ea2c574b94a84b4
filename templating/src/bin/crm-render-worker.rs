use std::process::ExitCode;

fn main() -> ExitCode {
    templating::worker_main()
}
