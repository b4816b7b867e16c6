//! One turn: the process, its heartbeats, its time limit, and the report.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use runway_api::enums::RunErrorType;
use runway_api::v1::{CompleteTurnRequest, FailTurnRequest, HeartbeatRequest, RunError, Turn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::retries::with_retries;
use crate::{Client, transcript};

/// How much of the end of stderr a failure report carries.
pub const STDERR_TAIL_BYTES: usize = 4096;

/// Events read from stdout but not yet uploaded, at most (each at most
/// 256 KiB): past that the reader waits, and so does the agent.
const EVENT_QUEUE: usize = 16;

/// How a turn ended, from the runner's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnOutcome {
    Completed,
    Failed {
        error_type: RunErrorType,
    },
    /// The server refused a heartbeat (canceled, lost): the work was stopped
    /// and nothing was reported.
    Abandoned,
    /// The process could not be started or reported (see the logs).
    Broken,
}

pub async fn execute(client: &mut Client, exec: &str, turn: Turn) -> TurnOutcome {
    let _under_way = UnderWay::start();
    let run = turn.run.clone().unwrap_or_default();
    let lease = turn.lease_id.clone();
    // Also the longest wait between two tries of a report (see `retries`).
    let heartbeat_every = Duration::from_millis(turn.heartbeat_interval_ms.max(50) as u64);
    let reporter = Reporter {
        client: client.clone(),
        run_id: run.id.clone(),
        lease: lease.clone(),
        retry_wait: heartbeat_every,
    };
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(exec)
        .env("RUNWAY_RUN_ID", &run.id)
        .env("RUNWAY_SESSION_ID", &turn.session_id)
        .env("RUNWAY_DEPLOYMENT_ID", &run.deployment_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a kill reaches everything it started.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let message = format!("could not start {exec:?}: {err}");
            return reporter.failed(RunErrorType::Agent, message).await;
        }
    };
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    // Whatever ends this turn — its end, a timeout, a cancel, or the runner
    // dropping it (a stopping `serve --exec` that cannot wait) — its whole
    // process group goes with it.
    // The watcher is dropped after the group is killed (declared first):
    // the group's id stays taken until then.
    let _watcher = pgid.and_then(watch_group);
    let mut group = pgid.map(ProcessGroup::started);
    if let Some(mut stdin) = child.stdin.take() {
        let document = crate::context::document(&turn).to_string();
        tokio::spawn(async move {
            // An agent that does not read its stdin is not an error.
            let _ = stdin.write_all(document.as_bytes()).await;
            let _ = stdin.shutdown().await;
        });
    }
    let stderr = child.stderr.take().map(|mut pipe| {
        tokio::spawn(async move {
            let mut tail: Vec<u8> = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * STDERR_TAIL_BYTES {
                    tail.drain(..tail.len() - STDERR_TAIL_BYTES);
                }
            }
            let start = tail.len().saturating_sub(STDERR_TAIL_BYTES);
            String::from_utf8_lossy(&tail[start..]).into_owned()
        })
    });

    // The transcript: stdout → events → AppendEvents, with back-pressure.
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(EVENT_QUEUE);
    let reader = child
        .stdout
        .take()
        .map(|stdout| tokio::spawn(transcript::read(stdout, events_tx)));
    let uploader = {
        let mut client = client.clone();
        let (run_id, lease) = (run.id.clone(), lease.clone());
        tokio::spawn(async move {
            transcript::upload(&mut client, &run_id, &lease, heartbeat_every, events_rx).await
        })
    };
    // Everything the agent printed is stored before the turn is reported.
    let transcript_stored = || async {
        if let Some(reader) = reader {
            let _ = reader.await;
        }
        match uploader.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(transcript::UploadError::LeaseLost)) => Err(TurnOutcome::Abandoned),
            Ok(Err(transcript::UploadError::Failed(why))) => {
                tracing::warn!(run_id = %run.id, why, "transcript not stored; the turn is not reported");
                Err(TurnOutcome::Broken)
            }
            Err(_) => Err(TurnOutcome::Broken),
        }
    };

    let timeout = Duration::from_millis(turn.timeout_ms.max(0) as u64);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut beat = tokio::time::interval(heartbeat_every);
    beat.tick().await;
    let kill = |why: &str| {
        if let Some(pgid) = pgid {
            tracing::info!(run_id = %run.id, why, "killing the turn's process group");
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    };

    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = &mut deadline => {
                kill("timeout");
                let _ = child.wait().await;
                // Gone now, not after a report that may wait on the server.
                if let Some(group) = group.take() {
                    group.kill_now();
                }
                if let Err(outcome) = transcript_stored().await {
                    return outcome;
                }
                let message = format!("The agent ran past timeout_ms ({} ms) and was killed.", turn.timeout_ms);
                return reporter.failed(RunErrorType::Timeout, message).await;
            }
            _ = beat.tick() => {
                let request = HeartbeatRequest { run_id: run.id.clone(), lease_id: lease.clone() };
                match client.heartbeat(request).await {
                    Ok(_) => {}
                    Err(s) if matches!(s.code(), tonic::Code::FailedPrecondition | tonic::Code::NotFound) => {
                        kill("the server ended the run (canceled or lease lost)");
                        let _ = child.wait().await;
                        if let Some(group) = group.take() {
                            group.kill_now();
                        }
                        return TurnOutcome::Abandoned;
                    }
                    // The server may be restarting: keep working, the lease has slack.
                    Err(s) => tracing::warn!(run_id = %run.id, code = ?s.code(), "heartbeat failed"),
                }
            }
        }
    };
    // The process is gone; whatever it left in its group goes too, now:
    // a child still holding stdout would keep the transcript open.
    if let Some(group) = group.take() {
        group.kill_now();
    }
    if let Err(outcome) = transcript_stored().await {
        return outcome;
    }
    // This process ended the turn itself (a stop past its grace): the run
    // is failed as a lost runner's is, now rather than when its lease runs
    // out, and retried as one would be — not blamed on the agent.
    if ENDING_TURNS.load(Ordering::SeqCst) && !status.as_ref().is_ok_and(|s| s.success()) {
        let message = "The runner stopped before the turn ended and killed the agent.".to_string();
        return reporter.failed(RunErrorType::RunnerLost, message).await;
    }
    let tail = match stderr {
        Some(task) => task.await.unwrap_or_default(),
        None => String::new(),
    };
    match status {
        Ok(s) if s.success() => reporter.completed().await,
        Ok(s) => {
            let code = s
                .code()
                .map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
            let message = if tail.is_empty() {
                format!("The agent exited with {code}.")
            } else {
                format!("The agent exited with {code}. stderr (last 4 KiB):\n{tail}")
            };
            reporter.failed(RunErrorType::Agent, message).await
        }
        Err(err) => {
            reporter
                .failed(
                    RunErrorType::Agent,
                    format!("waiting for the agent failed: {err}"),
                )
                .await
        }
    }
}

/// Where a turn's outcome goes: its run, under its lease, each report
/// retried at least every `retry_wait` (a heartbeat interval) while the
/// server is away.
struct Reporter {
    client: Client,
    run_id: String,
    lease: String,
    retry_wait: Duration,
}

impl Reporter {
    async fn completed(&self) -> TurnOutcome {
        let request = CompleteTurnRequest {
            run_id: self.run_id.clone(),
            lease_id: self.lease.clone(),
        };
        match with_retries(self.retry_wait, || {
            let mut client = self.client.clone();
            let request = request.clone();
            async move { client.complete_turn(request).await }
        })
        .await
        {
            Ok(_) => TurnOutcome::Completed,
            Err(s) => {
                tracing::warn!(run_id = %self.run_id, code = ?s.code(), message = s.message(), "completion not recorded");
                TurnOutcome::Broken
            }
        }
    }

    async fn failed(&self, error_type: RunErrorType, message: String) -> TurnOutcome {
        let request = FailTurnRequest {
            run_id: self.run_id.clone(),
            lease_id: self.lease.clone(),
            error: Some(RunError {
                r#type: error_type.name().to_string(),
                message,
            }),
        };
        match with_retries(self.retry_wait, || {
            let mut client = self.client.clone();
            let request = request.clone();
            async move { client.fail_turn(request).await }
        })
        .await
        {
            Ok(_) => TurnOutcome::Failed { error_type },
            Err(s) => {
                tracing::warn!(run_id = %self.run_id, code = ?s.code(), message = s.message(), "failure not recorded");
                TurnOutcome::Broken
            }
        }
    }
}

/// A turn's process group, killed when dropped before its leader was
/// reaped (so the id cannot belong to another group yet): nothing a turn
/// started outlives it. Listed while alive, for a runner that must exit at
/// once ([`kill_all_turns`]).
struct ProcessGroup(Pid);

static LIVE_GROUPS: std::sync::Mutex<Vec<Pid>> = std::sync::Mutex::new(Vec::new());

impl ProcessGroup {
    fn started(pgid: Pid) -> Self {
        LIVE_GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pgid);
        ProcessGroup(pgid)
    }

    /// Kills the group now, once its leader is reaped, and forgets it.
    fn kill_now(self) {
        let _ = killpg(self.0, Signal::SIGKILL);
        self.forget();
        std::mem::forget(self);
    }

    fn forget(&self) {
        LIVE_GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|g| *g != self.0);
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let _ = killpg(self.0, Signal::SIGKILL);
        self.forget();
    }
}

/// Starts a watcher in the turn's group `pgid`: a shell that waits for the
/// end of a pipe this runner holds, then kills its own group. Whatever ends
/// the runner — SIGKILL or the OOM killer included, which run none of its
/// code — closes the pipe, so the agent never outlives its runner (a retry
/// would run beside it). While the watcher lives the group's id cannot be
/// reused either, so a late kill of the group reaches only the turn's
/// processes. It goes with the group at the turn's end.
fn watch_group(pgid: Pid) -> Option<tokio::process::Child> {
    let watcher = Command::new("sh")
        .args(["-c", "read -r _; kill -KILL 0"])
        .process_group(pgid.as_raw())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    match watcher {
        Ok(watcher) => Some(watcher),
        Err(err) => {
            tracing::warn!(%err, "no watcher for the turn's processes: they would outlive a killed runner");
            None
        }
    }
}

/// Set once this process ends its turns itself ([`end_all_turns`]).
static ENDING_TURNS: AtomicBool = AtomicBool::new(false);

/// Turns this process is executing (reporting included), and a wake-up
/// for each that ends: what a runner exiting at once waits for.
static TURNS_UNDER_WAY: AtomicUsize = AtomicUsize::new(0);
static A_TURN_ENDED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// One turn under way, counted until dropped.
struct UnderWay;

impl UnderWay {
    fn start() -> Self {
        TURNS_UNDER_WAY.fetch_add(1, Ordering::SeqCst);
        UnderWay
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        TURNS_UNDER_WAY.fetch_sub(1, Ordering::SeqCst);
        A_TURN_ENDED.notify_waiters();
    }
}

/// Resolves once no turn is under way in this process (each ended turn
/// has reported, or given up).
pub async fn turns_ended() {
    loop {
        let ended = A_TURN_ENDED.notified();
        tokio::pin!(ended);
        // Registered before the count is read: no wake-up is missed.
        ended.as_mut().enable();
        if TURNS_UNDER_WAY.load(Ordering::SeqCst) == 0 {
            return;
        }
        ended.await;
    }
}

/// Ends every turn this process runs, now (a stop past its grace): kills
/// their process groups, and each turn reports its run failed as
/// `runner_lost_error` — at once, where a dropped turn's run would wait for
/// its lease to run out.
pub fn end_all_turns() {
    ENDING_TURNS.store(true, Ordering::SeqCst);
    kill_all_turns();
}

/// Kills every turn's process group this process runs: for a process about
/// to exit without unwinding (a second stop signal).
pub fn kill_all_turns() {
    for group in LIVE_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
    {
        let _ = killpg(group, Signal::SIGKILL);
    }
}
