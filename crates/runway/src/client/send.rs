//! What each client command sends, and what it prints.

use anyhow::Context;
use serde_json::{Map, Value, json};

use super::commands::{
    AgentCommand, ClientArgs, ClientCommand, DeploymentCommand, EnvironmentCommand, RunCommand,
};
use super::render::{self, Output};
use super::{Api, follow};

/// A JSON body from a file or stdin (`-`), with the flags' fields merged
/// into it (objects key by key, so `--max-retries` keeps the body's other
/// metadata; a flag wins).
fn body(json_source: &Option<String>, fields: Vec<(&str, Option<Value>)>) -> anyhow::Result<Value> {
    let mut body = match json_source {
        None => Map::new(),
        Some(source) => {
            let text = if source == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?
            };
            match serde_json::from_str(&text).context("the --json body is not JSON")? {
                Value::Object(map) => map,
                _ => anyhow::bail!("the --json body must be a JSON object"),
            }
        }
    };
    for (key, value) in fields {
        if let Some(value) = value {
            merge(body.entry(key).or_insert(Value::Null), value);
        }
    }
    Ok(Value::Object(body))
}

/// Sets `from` over `into`: objects key by key, anything else whole.
fn merge(into: &mut Value, from: Value) {
    match from {
        Value::Object(from) if into.is_object() => {
            let map = into.as_object_mut().expect("an object");
            for (key, value) in from {
                merge(map.entry(key).or_insert(Value::Null), value);
            }
        }
        from => *into = from,
    }
}

fn config(
    max_concurrent: Option<u32>,
    max_retries: Option<u32>,
    timeout_ms: Option<u64>,
) -> Option<Value> {
    let mut c = Map::new();
    if let Some(v) = max_concurrent {
        c.insert("max_concurrent".into(), json!(v));
    }
    if let Some(v) = max_retries {
        c.insert("max_retries".into(), json!(v));
    }
    if let Some(v) = timeout_ms {
        c.insert("timeout_ms".into(), json!(v));
    }
    (!c.is_empty()).then(|| json!({"cas_config": {"config": c}}))
}

/// A cron schedule; without a time zone the API's default, UTC.
fn cron(expression: String, timezone: Option<String>) -> Value {
    let mut schedule = json!({"type": "cron", "expression": expression});
    if let Some(zone) = timezone {
        schedule["timezone"] = json!(zone);
    }
    schedule
}

/// The schedule `deployments update` sends for `--schedule` and
/// `--timezone`. A schedule is replaced whole, and a time zone left out
/// would be UTC: what the flags leave out is the deployment's as it is
/// (an expression changed in Asia/Kolkata stays in Asia/Kolkata; a time
/// zone alone moves the expression there).
async fn rescheduled(
    api: &Api,
    id: &str,
    expression: Option<String>,
    timezone: Option<String>,
) -> anyhow::Result<Option<Value>> {
    match (expression, timezone) {
        (None, None) => Ok(None),
        (Some(expression), Some(zone)) => Ok(Some(cron(expression, Some(zone)))),
        (expression, timezone) => rescheduled_from(api, id, expression, timezone).await,
    }
}

/// What [`rescheduled`] leaves out, from the deployment as it is.
async fn rescheduled_from(
    api: &Api,
    id: &str,
    expression: Option<String>,
    timezone: Option<String>,
) -> anyhow::Result<Option<Value>> {
    let current = api.get(&format!("/deployments/{id}"), &[]).await?;
    let current = current["schedule"].as_object();
    let field = |name: &str| current.and_then(|s| s[name].as_str()).map(str::to_string);
    let expression = match expression.or_else(|| field("expression")) {
        Some(expression) => expression,
        None => anyhow::bail!("{id} has no schedule to move: give --schedule with --timezone"),
    };
    Ok(Some(cron(
        expression,
        timezone.or_else(|| field("timezone")),
    )))
}

fn opt<T: Into<Value>>(v: Option<T>) -> Option<Value> {
    v.map(Into::into)
}

/// Runs a client command; the exit code is 0 unless `--wait`/`watch` saw a
/// run fail (1) or be skipped (2).
pub async fn run(args: ClientArgs, command: ClientCommand) -> anyhow::Result<i32> {
    let api = Api::new(&args.url, &args.token, args.ca.as_deref())?;
    let print = |value: &Value| match args.output {
        Output::Json => render::print_line(value),
        Output::Table => render::print_line(render::human(value)),
    };
    let value = match command {
        ClientCommand::Deployments(c) => match c {
            DeploymentCommand::List {
                list,
                status,
                include_archived,
                agent_id,
            } => {
                let mut q = list.query();
                if let Some(s) = status {
                    q.push(("status", s));
                }
                if include_archived {
                    q.push(("include_archived", "true".into()));
                }
                if let Some(a) = agent_id {
                    q.push(("agent_id", a));
                }
                api.get("/deployments", &q).await?
            }
            DeploymentCommand::Get { id } => api.get(&format!("/deployments/{id}"), &[]).await?,
            DeploymentCommand::Create {
                name,
                agent,
                environment,
                messages,
                schedule,
                timezone,
                max_concurrent,
                max_retries,
                timeout_ms,
                json,
                idempotency_key,
            } => {
                let events = (!messages.is_empty()).then(|| {
                    Value::Array(
                        messages
                            .into_iter()
                            .map(|m| json!({"type": "user.message", "content": m}))
                            .collect(),
                    )
                });
                let body = body(
                    &json,
                    vec![
                        ("name", opt(name)),
                        ("agent", opt(agent)),
                        ("environment_id", opt(environment)),
                        ("initial_events", events),
                        ("schedule", schedule.map(|e| cron(e, timezone))),
                        ("metadata", config(max_concurrent, max_retries, timeout_ms)),
                    ],
                )?;
                api.post("/deployments", Some(&body), idempotency_key.as_deref())
                    .await?
            }
            DeploymentCommand::Update {
                id,
                name,
                schedule,
                timezone,
                no_schedule,
                max_concurrent,
                max_retries,
                timeout_ms,
                json,
            } => {
                let schedule = if no_schedule {
                    Some(Value::Null)
                } else {
                    rescheduled(&api, &id, schedule, timezone).await?
                };
                let body = body(
                    &json,
                    vec![
                        ("name", opt(name)),
                        ("schedule", schedule),
                        ("metadata", config(max_concurrent, max_retries, timeout_ms)),
                    ],
                )?;
                api.post(&format!("/deployments/{id}"), Some(&body), None)
                    .await?
            }
            DeploymentCommand::Pause { id } => {
                api.post(&format!("/deployments/{id}/pause"), None, None)
                    .await?
            }
            DeploymentCommand::Unpause { id } => {
                api.post(&format!("/deployments/{id}/unpause"), None, None)
                    .await?
            }
            DeploymentCommand::Archive { id } => {
                api.post(&format!("/deployments/{id}/archive"), None, None)
                    .await?
            }
            DeploymentCommand::Run {
                id,
                wait,
                idempotency_key,
            } => {
                let run = api
                    .post(
                        &format!("/deployments/{id}/run"),
                        None,
                        idempotency_key.as_deref(),
                    )
                    .await?;
                if wait {
                    return follow::watch(&api, run, args.output).await;
                }
                run
            }
        },
        ClientCommand::Runs(c) => match c {
            RunCommand::List {
                list,
                deployment,
                status,
                trigger_type,
            } => {
                let mut q = list.query();
                if let Some(d) = deployment {
                    q.push(("deployment_id", d));
                }
                if let Some(s) = status {
                    q.push(("status", s));
                }
                if let Some(t) = trigger_type {
                    q.push(("trigger_type", t));
                }
                api.get("/deployment_runs", &q).await?
            }
            RunCommand::Get { id } => api.get(&format!("/deployment_runs/{id}"), &[]).await?,
            RunCommand::Cancel { id } => {
                api.post(&format!("/deployment_runs/{id}/cancel"), None, None)
                    .await?
            }
            RunCommand::Watch { id } => {
                let run = api.get(&format!("/deployment_runs/{id}"), &[]).await?;
                return follow::watch(&api, run, args.output).await;
            }
            RunCommand::Logs { id, follow } => {
                return follow::logs(&api, &id, follow, args.output).await;
            }
        },
        ClientCommand::Agents(c) => match c {
            AgentCommand::List {
                list,
                include_archived,
            } => {
                let mut q = list.query();
                if include_archived {
                    q.push(("include_archived", "true".into()));
                }
                api.get("/agents", &q).await?
            }
            AgentCommand::Get { id } => api.get(&format!("/agents/{id}"), &[]).await?,
            AgentCommand::Create {
                name,
                model,
                system,
                json,
            } => {
                let body = body(
                    &json,
                    vec![
                        ("name", opt(name)),
                        ("model", opt(model)),
                        ("system", opt(system)),
                    ],
                )?;
                api.post("/agents", Some(&body), None).await?
            }
            AgentCommand::Update {
                id,
                name,
                model,
                system,
                json,
            } => {
                let body = body(
                    &json,
                    vec![
                        ("name", opt(name)),
                        ("model", opt(model)),
                        ("system", opt(system)),
                    ],
                )?;
                api.post(&format!("/agents/{id}"), Some(&body), None)
                    .await?
            }
            AgentCommand::Archive { id } => {
                api.post(&format!("/agents/{id}/archive"), None, None)
                    .await?
            }
        },
        ClientCommand::Environments(c) => match c {
            EnvironmentCommand::List {
                list,
                include_archived,
            } => {
                let mut q = list.query();
                if include_archived {
                    q.push(("include_archived", "true".into()));
                }
                api.get("/environments", &q).await?
            }
            EnvironmentCommand::Get { id } => api.get(&format!("/environments/{id}"), &[]).await?,
            EnvironmentCommand::Create { name, description } => {
                let body = json!({"name": name, "description": description});
                api.post("/environments", Some(&body), None).await?
            }
            EnvironmentCommand::Update {
                id,
                name,
                description,
            } => {
                let body = body(
                    &None,
                    vec![("name", opt(name)), ("description", opt(description))],
                )?;
                api.post(&format!("/environments/{id}"), Some(&body), None)
                    .await?
            }
            EnvironmentCommand::Archive { id } => {
                api.post(&format!("/environments/{id}/archive"), None, None)
                    .await?
            }
        },
    };
    print(&value);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn a_flag_is_merged_into_the_json_body_key_by_key() {
        let mut body = json!({"name": "d", "metadata": {"team": "ops",
            "cas_config": {"config": {"max_concurrent": 2, "timeout_ms": 60000}}}});
        merge(
            &mut body["metadata"],
            json!({"cas_config": {"config": {"max_retries": 3, "max_concurrent": 5}}}),
        );
        assert_eq!(
            body,
            json!({"name": "d", "metadata": {"team": "ops", "cas_config": {"config":
                {"max_concurrent": 5, "timeout_ms": 60000, "max_retries": 3}}}})
        );
        // Anything but two objects: the flag's value, whole.
        let mut name = json!({"first": 1});
        merge(&mut name, json!("plain"));
        assert_eq!(name, json!("plain"));
        let mut absent = json!(null);
        merge(&mut absent, json!({"a": 1}));
        assert_eq!(absent, json!({"a": 1}));
    }
}
