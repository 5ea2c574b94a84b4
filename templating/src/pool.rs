//! The sandbox: a pool of worker processes that render untrusted templates.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value as Json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;

use crate::error::TemplateError;
use crate::worker::{Request, Response};
use crate::{Limits, Rendered, Source};

/// `SIGXCPU`: the worker ran past its `RLIMIT_CPU`.
const SIGXCPU: i32 = 24;

/// How long to wait for a dead or killed worker to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(1);

/// How to start a worker process: a program that calls [`crate::worker_main`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    /// The program, e.g. `std::env::current_exe()`.
    pub program: PathBuf,
    /// Its arguments, e.g. `["render-worker"]`.
    pub args: Vec<String>,
}

/// Renders untrusted templates in a pool of worker processes (see
/// [`crate::worker_main`] for the limits a worker sets on itself).
///
/// At most `max_workers` workers run at once; a render waits for a free one.
/// Idle workers are kept and reused. A worker that dies during a render is
/// discarded and the render fails with [`TemplateError::MemoryLimit`]
/// ([`TemplateError::Timeout`] if it died of `SIGXCPU`); one that does not
/// answer within [`Limits::wall_time`] is killed and the render fails with
/// [`TemplateError::Timeout`]. The next render starts a new worker. A worker
/// that fails to start, or answers nonsense, is [`TemplateError::Unavailable`].
///
/// A reused worker that dies during a render may have been killed while idle
/// (by an operator, the OOM killer), so that render is retried once on a new
/// worker, whose outcome counts.
///
/// Workers are killed when the `Renderer` is dropped, and a worker is killed if
/// the future of its render is dropped before it answers.
#[derive(Debug)]
pub struct Renderer {
    worker: WorkerCommand,
    limits: Limits,
    permits: Semaphore,
    idle: Mutex<Vec<Worker>>,
}

#[derive(Debug)]
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Whether the worker has rendered before.
    reused: bool,
}

/// How a request to a worker ended.
enum Outcome {
    /// The worker answered (and can be reused).
    Answered(Response),
    /// The worker did not answer in time.
    TimedOut,
    /// The worker exited or closed its pipes.
    Died,
    /// The worker answered something that is not a response.
    Broken(String),
}

impl Renderer {
    /// A renderer that starts workers with `worker`, renders within `limits`
    /// and runs at most `max_workers` workers at once (at least one). No
    /// worker is started until the first render.
    pub fn new(worker: WorkerCommand, limits: Limits, max_workers: usize) -> Self {
        Self {
            worker,
            limits,
            permits: Semaphore::new(max_workers.max(1)),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The limits renders run within.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The process ids of the idle workers (for monitoring and tests).
    pub fn idle_workers(&self) -> Vec<u32> {
        self.lock_idle()
            .iter()
            .filter_map(|worker| worker.child.id())
            .collect()
    }

    /// Renders `source` with `variables` in a worker process (see
    /// [`crate::render_in_process`] for the rendering rules).
    pub async fn render(
        &self,
        source: &Source,
        variables: &Map<String, Json>,
    ) -> Result<Rendered, TemplateError> {
        let request = Request {
            source: source.clone(),
            variables: variables.clone(),
            limits: self.limits.clone(),
        };
        let mut line = serde_json::to_vec(&request)
            .map_err(|error| TemplateError::Unavailable(format!("cannot encode: {error}")))?;
        line.push(b'\n');
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| TemplateError::Unavailable("the renderer is closed".to_owned()))?;
        let mut retried = false;
        loop {
            let mut worker = match self.take_idle() {
                Some(worker) => worker,
                None => self.spawn()?,
            };
            match self.exchange(&mut worker, &line).await {
                Outcome::Answered(response) => {
                    worker.reused = true;
                    self.lock_idle().push(worker);
                    return response;
                }
                Outcome::TimedOut => {
                    discard(worker, true).await;
                    return Err(TemplateError::Timeout);
                }
                Outcome::Died => {
                    let reused = worker.reused;
                    let status = discard(worker, false).await;
                    if reused && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(match status.and_then(|status| status.signal()) {
                        Some(SIGXCPU) => TemplateError::Timeout,
                        _ => TemplateError::MemoryLimit,
                    });
                }
                Outcome::Broken(message) => {
                    discard(worker, true).await;
                    return Err(TemplateError::Unavailable(message));
                }
            }
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Worker>> {
        // The list stays consistent even if a holder panicked.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle worker that is still alive, if any (dead ones are dropped).
    fn take_idle(&self) -> Option<Worker> {
        let mut idle = self.lock_idle();
        while let Some(mut worker) = idle.pop() {
            if matches!(worker.child.try_wait(), Ok(None)) {
                return Some(worker);
            }
        }
        None
    }

    fn spawn(&self) -> Result<Worker, TemplateError> {
        let mut child = Command::new(&self.worker.program)
            .args(&self.worker.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                TemplateError::Unavailable(format!(
                    "cannot start the render worker {}: {error}",
                    self.worker.program.display()
                ))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(TemplateError::Unavailable(
                "the render worker has no pipes".to_owned(),
            ));
        };
        Ok(Worker {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            reused: false,
        })
    }

    async fn exchange(&self, worker: &mut Worker, line: &[u8]) -> Outcome {
        let mut answer = String::new();
        let exchange = async {
            worker.stdin.write_all(line).await?;
            worker.stdin.flush().await?;
            worker.stdout.read_line(&mut answer).await
        };
        match tokio::time::timeout(self.limits.wall_time, exchange).await {
            Err(_) => Outcome::TimedOut,
            Ok(Err(_)) | Ok(Ok(0)) => Outcome::Died,
            Ok(Ok(_)) => match serde_json::from_str::<Response>(&answer) {
                Ok(response) => Outcome::Answered(response),
                Err(error) => Outcome::Broken(format!(
                    "the render worker answered something else than a response: {error}"
                )),
            },
        }
    }
}

/// Reaps a worker, killing it first if `kill` (else only if it does not exit
/// by itself within [`REAP_TIMEOUT`]); returns how it ended, if known in time.
async fn discard(mut worker: Worker, kill: bool) -> Option<ExitStatus> {
    drop(worker.stdin);
    if kill {
        let _ = worker.child.start_kill();
    } else if let Ok(Ok(status)) = tokio::time::timeout(REAP_TIMEOUT, worker.child.wait()).await {
        return Some(status);
    }
    let _ = worker.child.start_kill();
    match tokio::time::timeout(REAP_TIMEOUT, worker.child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => None,
    }
}
