//! The worker process: reads one JSON request per line from stdin, renders
//! it, writes one JSON response per line to stdout.

use std::io::{self, BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use rustix::time::{ClockId, clock_gettime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::error::TemplateError;
use crate::{Limits, Rendered, Source, render_in_process};

/// One render request (one line of JSON).
#[derive(Serialize, Deserialize)]
pub(crate) struct Request {
    pub(crate) source: Source,
    pub(crate) variables: Map<String, Json>,
    pub(crate) limits: Limits,
}

/// One response (one line of JSON).
pub(crate) type Response = Result<Rendered, TemplateError>;

/// The main loop of a render worker process: call it from the `main` of the
/// binary a [`crate::Renderer`] starts (before starting any runtime or thread).
///
/// At start the worker forbids core dumps (`RLIMIT_CORE` 0: a template that
/// exhausts memory aborts the worker, and its dump would be large and slow)
/// and writing files (`RLIMIT_FSIZE` 0). Before each request it sets its soft
/// limits from the request's [`Limits`]:
///
/// * `RLIMIT_AS` = [`Limits::memory_bytes`]: an allocation past it fails and
///   the worker aborts; the pool reports [`TemplateError::MemoryLimit`];
/// * `RLIMIT_CPU` = the CPU time used so far + [`Limits::wall_time`] + 2 s: a
///   backstop (SIGXCPU) should the server not kill a runaway worker, since the
///   server kills it at `wall_time` of wall-clock time first. (`RLIMIT_CPU`
///   counts the whole life of the process, so it is moved forward per request.)
///
/// Reads requests until stdin closes, then exits with success. Fails (exit
/// code 1) only if stdout breaks or a limit cannot be set.
pub fn worker_main() -> ExitCode {
    for (resource, limit) in [(Resource::Core, 0), (Resource::Fsize, 0)] {
        let set = setrlimit(
            resource,
            Rlimit {
                current: Some(limit),
                maximum: Some(limit),
            },
        );
        if let Err(error) = set {
            eprintln!("crm-render-worker: cannot set {resource:?}: {error}");
            return ExitCode::FAILURE;
        }
    }
    let stdin = io::stdin();
    let mut stdin = stdin.lock();
    let stdout = io::stdout();
    let mut stdout = stdout.lock();
    let mut line = String::new();
    loop {
        line.clear();
        match stdin.read_line(&mut line) {
            Ok(0) => return ExitCode::SUCCESS,
            Ok(_) => {}
            Err(error) => {
                eprintln!("crm-render-worker: cannot read a request: {error}");
                return ExitCode::FAILURE;
            }
        }
        let response: Response = match serde_json::from_str::<Request>(&line) {
            Ok(request) => match limit_self(&request.limits) {
                Ok(()) => render(&request),
                Err(error) => Err(TemplateError::Unavailable(format!(
                    "the worker cannot limit itself: {error}"
                ))),
            },
            Err(error) => Err(TemplateError::Unavailable(format!(
                "the worker received a malformed request: {error}"
            ))),
        };
        let written = serde_json::to_writer(&mut stdout, &response)
            .map_err(io::Error::other)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
        if let Err(error) = written {
            eprintln!("crm-render-worker: cannot write a response: {error}");
            return ExitCode::FAILURE;
        }
    }
}

fn render(request: &Request) -> Response {
    catch_unwind(AssertUnwindSafe(|| {
        render_in_process(&request.source, &request.variables, &request.limits)
    }))
    .unwrap_or_else(|_| {
        Err(TemplateError::Render {
            field: "content",
            line: None,
            message: "the template engine failed on this template".to_owned(),
        })
    })
}

/// Sets the soft address-space and CPU limits for the next request.
fn limit_self(limits: &Limits) -> io::Result<()> {
    let cpu_used = clock_gettime(ClockId::ProcessCPUTime).tv_sec;
    let cpu_used = u64::try_from(cpu_used).unwrap_or(0);
    let cpu = cpu_used
        .saturating_add(limits.wall_time.as_secs())
        .saturating_add(2);
    for (resource, limit) in [(Resource::As, limits.memory_bytes), (Resource::Cpu, cpu)] {
        let maximum = getrlimit(resource).maximum;
        let current = maximum.map_or(limit, |maximum| limit.min(maximum));
        setrlimit(
            resource,
            Rlimit {
                current: Some(current),
                maximum,
            },
        )?;
    }
    Ok(())
}
