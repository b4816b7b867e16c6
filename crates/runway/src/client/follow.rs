//! Following a run through its session's event stream: `runs logs`
//! (the transcript, readably), `runs watch` and `deployments run --wait`
//! (a spinner until the run ends). No polling while the run executes; a
//! pending run (a retry waiting for its backoff) is looked at until it has
//! a session to follow.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use runway_api::enums::{EventType, RunStatus, TriggerType};
use runway_gateway::sse::{ERROR, HEARTBEAT};
use serde_json::Value;

use super::Api;
use super::describe::describe;
use super::render::{self, Output};

/// The exit code for a run's outcome: 0 completed, 1 failed, 2 skipped.
fn exit_code(run: &Value) -> i32 {
    match run["status"].as_str().and_then(RunStatus::from_name) {
        Some(RunStatus::Completed) => 0,
        Some(RunStatus::Skipped) => 2,
        _ => 1,
    }
}

fn is_terminal(run: &Value) -> bool {
    run["status"]
        .as_str()
        .and_then(RunStatus::from_name)
        .is_some_and(|s| !s.is_active())
}

/// `run` once it has a session or ended (a pending retry has neither yet).
async fn started(api: &Api, mut run: Value) -> anyhow::Result<Value> {
    let id = run["id"].as_str().context("the run has no id")?.to_string();
    while run["session_id"].is_null() && !is_terminal(&run) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        run = get_patiently(api, &format!("/deployment_runs/{id}"), &[]).await?;
    }
    Ok(run)
}

/// [`Api::get`], tried again while the server is away (a restart), for up
/// to [`RECONNECT_FOR`]: following a run must not fail with the server's
/// restart when the run does not.
async fn get_patiently(api: &Api, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
    let since = std::time::Instant::now();
    loop {
        match api.get(path, query).await {
            Err(err) if transient(&err) && since.elapsed() < RECONNECT_FOR => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            answer => return answer,
        }
    }
}

/// How long [`follow`] keeps trying to reach a server that went away (a
/// restart, a replica's stop) before it gives up.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// Follows the run's session until its turn ends, calling `each` with every
/// event once; returns the run as it ended. A stream the server ends as it
/// stops (or a connection that breaks) is opened again after the last event
/// seen, for up to [`RECONNECT_FOR`] without reaching the server.
async fn follow(api: &Api, run: Value, mut each: impl FnMut(&Value)) -> anyhow::Result<Value> {
    let run = started(api, run).await?;
    let id = run["id"].as_str().context("the run has no id")?.to_string();
    let Some(session) = run["session_id"].as_str() else {
        return Ok(run); // skipped: it never had a session
    };
    let mut last_id = None::<String>;
    // Since when the stream has been lost (nothing received), and why last.
    let mut lost = None::<(std::time::Instant, anyhow::Error)>;
    loop {
        if let Some((since, why)) = &lost {
            if since.elapsed() > RECONNECT_FOR {
                anyhow::bail!("lost the event stream for {RECONNECT_FOR:?}: {why:#}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let lost_since = lost.as_ref().map_or_else(std::time::Instant::now, |l| l.0);
        let mut stream = match api.events(session, last_id.as_deref()).await {
            Ok(stream) => stream,
            Err(err) if transient(&err) => {
                lost = Some((lost_since, err));
                continue;
            }
            Err(err) => return Err(err),
        };
        // A stream that breaks before saying anything is still lost.
        let mut received = false;
        let why = loop {
            let message = match stream.next().await {
                Some(Ok(message)) => message,
                Some(Err(err)) => break err,
                None => break anyhow::anyhow!("the event stream ended early"),
            };
            if message.event != ERROR {
                received = true;
            }
            match message.event.as_str() {
                HEARTBEAT => continue,
                ERROR => {
                    let envelope: Value = serde_json::from_str(&message.data)
                        .context("an error message that is not JSON")?;
                    let failure = super::ApiFailure::from_stream_error(&envelope);
                    if !failure.is_transient() {
                        return Err(failure.into());
                    }
                    break failure.into();
                }
                _ => {}
            }
            let event: Value =
                serde_json::from_str(&message.data).context("an event that is not JSON")?;
            last_id = Some(message.id.clone());
            each(&event);
            if event["type"] == EventType::SessionStatusIdle.name() {
                return ended_run(api, &id).await;
            }
        };
        let since = if received {
            std::time::Instant::now()
        } else {
            lost_since
        };
        lost = Some((since, why));
    }
}

/// Run `id` as it ended (a restart right after the run's end must not fail
/// the command).
async fn ended_run(api: &Api, id: &str) -> anyhow::Result<Value> {
    get_patiently(api, &format!("/deployment_runs/{id}"), &[]).await
}

/// Whether `err` says the server is away for a while, not that it refused.
fn transient(err: &anyhow::Error) -> bool {
    err.downcast_ref::<super::ApiFailure>()
        .is_some_and(super::ApiFailure::is_transient)
        || err.downcast_ref::<reqwest::Error>().is_some()
}

/// Tells on standard error why a run without a session prints nothing (a
/// skipped run never had one; a pending retry has none yet).
fn say_why_no_transcript(run: &Value) {
    if !run["session_id"].is_null() {
        return;
    }
    let id = run["id"].as_str().unwrap_or("the run");
    match run["status"].as_str() {
        Some(status) if RunStatus::from_name(status) == Some(RunStatus::Skipped) => {
            crate::logging::tell(format_args!(
                "runway: {id} has no transcript: it was skipped ({})",
                run["error"]["message"]
                    .as_str()
                    .unwrap_or("no reason given")
            ))
        }
        Some(status) => crate::logging::tell(format_args!(
            "runway: {id} has no transcript yet: it is {status}"
        )),
        None => {}
    }
}

/// `runway runs logs RUN [--follow]`: the transcript, text as text and the
/// rest summarized (`--output json`: every event as the API's JSON line).
/// Without `--follow` it prints what is recorded and exits 0; with it, it
/// follows until the run ends and exits with the run's outcome.
pub async fn logs(api: &Api, id: &str, follow_run: bool, output: Output) -> anyhow::Result<i32> {
    let run = api.get(&format!("/deployment_runs/{id}"), &[]).await?;
    let mut out = std::io::stdout().lock();
    let mut print = |event: &Value| {
        let text = match output {
            Output::Json => format!("{event}\n"),
            Output::Table => describe(event),
        };
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    };
    if follow_run {
        let run = follow(api, run, &mut print).await?;
        say_why_no_transcript(&run);
        return Ok(exit_code(&run));
    }
    let Some(session) = run["session_id"].as_str() else {
        say_why_no_transcript(&run);
        return Ok(0);
    };
    let mut after = None::<String>;
    loop {
        let mut query = vec![("limit", "1000".to_string())];
        if let Some(after) = &after {
            query.push(("after_id", after.clone()));
        }
        let page = api
            .get(&format!("/sessions/{session}/events"), &query)
            .await?;
        for event in page["data"].as_array().into_iter().flatten() {
            print(event);
        }
        if page["has_more"] != true {
            return Ok(0);
        }
        after = page["last_id"].as_str().map(str::to_string);
    }
}

/// `runs watch` / `deployments run --wait`: a spinner naming the run's last
/// event until it ends — and, when the deployment retries a failure, until
/// its retries end — then the last run; the exit code is its outcome.
pub async fn watch(api: &Api, run: Value, output: Output) -> anyhow::Result<i32> {
    let spinner = indicatif::ProgressBar::new_spinner();
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    spinner.enable_steady_tick(Duration::from_millis(100));
    let mut run = run;
    loop {
        let id = run["id"].as_str().context("the run has no id")?.to_string();
        spinner.set_message(format!(
            "{id}: {}",
            run["status"].as_str().unwrap_or_default()
        ));
        run = follow(api, run, |event| {
            spinner.set_message(format!(
                "{id}: {}",
                event["type"].as_str().unwrap_or_default()
            ));
        })
        .await?;
        match retry_of(api, &run).await? {
            Some(retry) => run = retry,
            None => break,
        }
    }
    spinner.finish_and_clear();
    match output {
        Output::Json => render::print_line(&run),
        Output::Table => render::print_line(render::human(&run)),
    }
    Ok(exit_code(&run))
}

/// The retry of `run` when it failed with attempts left. The service
/// records the retry in the transaction that fails the run, triggered at
/// the instant the run completed: among the deployment's retries triggered
/// since (read page by page, however many there are).
async fn retry_of(api: &Api, run: &Value) -> anyhow::Result<Option<Value>> {
    let (Some(id), Some(deployment), Some(failed_at)) = (
        run["id"].as_str(),
        run["deployment_id"].as_str(),
        run["completed_at"].as_str(),
    ) else {
        return Ok(None);
    };
    if run["status"] != RunStatus::Failed.name() {
        return Ok(None);
    }
    let filters = [
        ("deployment_id", deployment.to_string()),
        ("trigger_type", TriggerType::Retry.name().into()),
        ("triggered_after", failed_at.to_string()),
        ("limit", "1000".into()),
    ];
    let mut query = filters.to_vec();
    loop {
        let page = get_patiently(api, "/deployment_runs", &query).await?;
        let runs = page["data"].as_array().into_iter().flatten();
        if let Some(retry) = runs
            .into_iter()
            .find(|r| r["trigger_context"]["retry_of"] == id)
        {
            return Ok(Some(retry.clone()));
        }
        let Some(next) = page["next_page"].as_str() else {
            return Ok(None);
        };
        query = filters.to_vec();
        query.push(("page", next.to_string()));
    }
}
