//! The template renderer's worker for the tests' in-process servers (the
//! `crm` binary is this plus `render-worker`; a test binary can't be it).

fn main() -> std::process::ExitCode {
    templating::worker_main()
}
