//! The new deployment form, and the fields it shares with the edit form.

use crate::form::PageForm;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use runway_api::enums::InitialEventType;
use runway_api::v1::{
    AgentRef, CreateDeploymentRequest, DeploymentConfigInput, InitialEvent, ListAgentsRequest,
    ListEnvironmentsRequest, PageRequest, Schedule,
};

use super::{FormErrors, Input, csrf, select};
use crate::api::Api;
use crate::failure::PageError;
use crate::layout::{self, Nav};

/// The fields of the create and edit forms, named as the REST API names
/// them (so its `param` points at them).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct DeploymentForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub environment_id: String,
    #[serde(default, rename = "initial_events[0].content")]
    pub message: String,
    #[serde(default, rename = "schedule.expression")]
    pub expression: String,
    #[serde(default, rename = "schedule.timezone")]
    pub timezone: String,
    #[serde(default, rename = "metadata.cas_config.config.max_concurrent")]
    pub max_concurrent: String,
    #[serde(default, rename = "metadata.cas_config.config.max_retries")]
    pub max_retries: String,
    #[serde(default, rename = "metadata.cas_config.config.timeout_ms")]
    pub timeout_ms: String,
    #[serde(
        default,
        rename = "metadata.cas_config.config.max_consecutive_failures"
    )]
    pub max_consecutive_failures: String,
    /// User metadata, one `key=value` a line.
    #[serde(default)]
    pub metadata: String,
}

pub const CONFIG_FIELDS: [&str; 4] = [
    "metadata.cas_config.config.max_concurrent",
    "metadata.cas_config.config.max_retries",
    "metadata.cas_config.config.timeout_ms",
    "metadata.cas_config.config.max_consecutive_failures",
];

impl DeploymentForm {
    /// The schedule the form asks for; `None` for manual only.
    pub fn schedule(&self) -> Option<Schedule> {
        let expression = self.expression.trim();
        (!expression.is_empty()).then(|| Schedule {
            expression: expression.to_string(),
            timezone: match self.timezone.trim() {
                "" => runway_api::DEFAULT_TIMEZONE.to_string(),
                zone => zone.to_string(),
            },
            ..Schedule::default()
        })
    }

    /// The run limits as numbers; a field that is not a whole number is an
    /// error on that field (the API judges the ranges).
    pub fn config(&self) -> Result<DeploymentConfigInput, FormErrors> {
        Ok(DeploymentConfigInput {
            max_concurrent: whole_field(CONFIG_FIELDS[0], &self.max_concurrent)?,
            max_retries: whole_field(CONFIG_FIELDS[1], &self.max_retries)?,
            timeout_ms: whole_field(CONFIG_FIELDS[2], &self.timeout_ms)?,
            max_consecutive_failures: whole_field(
                CONFIG_FIELDS[3],
                &self.max_consecutive_failures,
            )?,
        })
    }

    /// The user metadata lines as a map; a line without `=` is an error.
    pub fn metadata(&self) -> Result<std::collections::BTreeMap<String, String>, FormErrors> {
        self.metadata
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                line.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| {
                        FormErrors::field("metadata", format!("{line:?} is not key=value."))
                    })
            })
            .collect()
    }
}

/// A form field's integer: empty is none; a number is taken as the JSON
/// API takes it (`2`, `2.0` and `2e0` alike), so the form and the API agree.
fn whole_field<T: TryFrom<i64>>(name: &str, value: &str) -> Result<Option<T>, FormErrors> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let out_of_range = || FormErrors::field(name, format!("{value} is out of range."));
    let not_whole = || FormErrors::field(name, format!("{value:?} is not a whole number."));
    let Ok(number) = value.parse::<serde_json::Number>() else {
        // Past a double's range (1e400) it is a number, just too large.
        return Err(match value.parse::<f64>() {
            Ok(f)
                if f.is_infinite()
                    && value
                        .trim_start_matches('-')
                        .starts_with(|c: char| c.is_ascii_digit()) =>
            {
                out_of_range()
            }
            _ => not_whole(),
        });
    };
    match runway_gateway::whole_number(&number) {
        Some(whole) => T::try_from(whole).map(Some).map_err(|_| out_of_range()),
        // Whole but past 2^63.
        None if number.as_f64().is_some_and(|f| f.fract() == 0.0) => Err(out_of_range()),
        None => Err(not_whole()),
    }
}

/// The schedule and limit fields, shared by the create and edit forms.
pub fn schedule_and_limits(form: &DeploymentForm, errors: &FormErrors) -> Markup {
    html! {
        fieldset {
            legend { "Schedule" }
            (Input::text("schedule.expression", "Cron expression", &form.expression)
                .hint("Five fields: minute hour day-of-month month day-of-week, e.g. 0 9 * * 1-5. Empty: manual runs only.").render(errors))
            (Input::text("schedule.timezone", "Time zone", &form.timezone)
                .hint("An IANA zone, e.g. Europe/Berlin or Asia/Shanghai (default UTC).").render(errors))
        }
        fieldset {
            legend { "Limits" }
            (Input::text(CONFIG_FIELDS[0], "Runs at once (1–100)", &form.max_concurrent).number().render(errors))
            (Input::text(CONFIG_FIELDS[1], "Retries of a failed run (0–10)", &form.max_retries).number().render(errors))
            (Input::text(CONFIG_FIELDS[2], "Time limit in ms (1000–86400000)", &form.timeout_ms).number().render(errors))
            (Input::text(CONFIG_FIELDS[3], "Pause after this many failures in a row (1–1000; empty: never)", &form.max_consecutive_failures).number().render(errors))
        }
    }
}

pub async fn new_form(api: Api) -> Result<Markup, PageError> {
    if api.session.read_only {
        return Ok(super::read_only_page(
            &api,
            "New deployment",
            "create deployments",
        ));
    }
    let form = DeploymentForm {
        timezone: runway_api::DEFAULT_TIMEZONE.into(),
        ..DeploymentForm::default()
    };
    render_new(&api, &form, &FormErrors::default()).await
}

async fn render_new(
    api: &Api,
    form: &DeploymentForm,
    errors: &FormErrors,
) -> Result<Markup, PageError> {
    let agents = api
        .agents()
        .list_agents(api.request(ListAgentsRequest {
            page: Some(PageRequest {
                limit: Some(1000),
                ..PageRequest::default()
            }),
            ..ListAgentsRequest::default()
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner()
        .agents;
    let environments = api
        .environments()
        .list_environments(api.request(ListEnvironmentsRequest {
            page: Some(PageRequest {
                limit: Some(1000),
                ..PageRequest::default()
            }),
            ..ListEnvironmentsRequest::default()
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner()
        .environments;
    let agent_options: Vec<(String, String)> =
        std::iter::once((String::new(), "Choose an agent".to_string()))
            .chain(agents.iter().map(|a| {
                (
                    a.id.clone(),
                    format!("{} (v{}, {})", a.name, a.version, a.model),
                )
            }))
            .collect();
    let environment_options: Vec<(String, String)> =
        std::iter::once((String::new(), "Choose an environment".to_string()))
            .chain(environments.iter().map(|e| (e.id.clone(), e.name.clone())))
            .collect();
    let mut fields = vec![
        "name",
        "description",
        "agent",
        "agent.version",
        "environment_id",
        "initial_events",
        "initial_events[0].content",
        "schedule.expression",
        "schedule.timezone",
        "metadata",
    ];
    fields.extend(CONFIG_FIELDS);
    let body = html! {
        @if let Some(message) = errors.general(&fields) { p.error role="alert" { (message) } }
        form.card method="post" action="/deployments" novalidate {
            (csrf(&api.session.csrf))
            (Input::text("name", "Name", &form.name).required().render(errors))
            (Input::text("description", "Description", &form.description).render(errors))
            (select("agent", "Agent (its latest version is pinned)", &agent_options, &form.agent, errors))
            (select("environment_id", "Environment", &environment_options, &form.environment_id, errors))
            (Input { kind: "textarea", ..Input::text("initial_events[0].content", "First message of every run", &form.message) }.required().render(errors))
            (schedule_and_limits(form, errors))
            button.primary type="submit" { "Create deployment" }
        }
    };
    Ok(layout::page(
        &api.session,
        "New deployment",
        Nav::Deployments,
        body,
    ))
}

pub async fn create(
    api: Api,
    PageForm(form): PageForm<DeploymentForm>,
) -> Result<Response, PageError> {
    api.check_csrf(&form.csrf)?;
    let config = match form.config() {
        Ok(config) => config,
        Err(errors) => return refused(&api, &form, errors, StatusCode::BAD_REQUEST).await,
    };
    let request = CreateDeploymentRequest {
        name: form.name.trim().to_string(),
        description: Some(form.description.trim().to_string()).filter(|d| !d.is_empty()),
        agent: Some(AgentRef {
            id: form.agent.clone(),
            version: 0,
        })
        .filter(|a| !a.id.is_empty()),
        environment_id: form.environment_id.clone(),
        initial_events: vec![InitialEvent {
            r#type: InitialEventType::UserMessage.to_proto(),
            content: Some(prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue(form.message.clone())),
            }),
        }],
        schedule: form.schedule(),
        config: Some(config),
        ..CreateDeploymentRequest::default()
    };
    match api
        .deployments()
        .create_deployment(api.request(request))
        .await
    {
        Ok(created) => {
            let id = created
                .into_inner()
                .deployment
                .map(|d| d.id)
                .unwrap_or_default();
            Ok(Redirect::to(&format!("/deployments/{id}")).into_response())
        }
        Err(status) => match api.fail(status) {
            PageError::Api(error) => {
                let code = error.status();
                refused(&api, &form, FormErrors::from_api(&error), code).await
            }
            other => Err(other),
        },
    }
}

async fn refused(
    api: &Api,
    form: &DeploymentForm,
    errors: FormErrors,
    code: StatusCode,
) -> Result<Response, PageError> {
    Ok((code, render_new(api, form, &errors).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::whole_field;

    fn field(value: &str) -> Result<Option<i32>, String> {
        whole_field::<i32>("max_retries", value).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn a_field_takes_integers_as_the_api_does() {
        assert_eq!(field(""), Ok(None));
        assert_eq!(field(" 2 "), Ok(Some(2)));
        assert_eq!(field("2.0"), Ok(Some(2)));
        assert_eq!(field("2e0"), Ok(Some(2)));
        assert_eq!(field("-3"), Ok(Some(-3)));
        for refused in ["2.5", "two", "0x10", "NaN", "inf"] {
            let err = field(refused).unwrap_err();
            assert!(err.contains("is not a whole number"), "{refused}: {err}");
        }
        for large in ["3000000000", "9223372036854775808", "1e30", "1e400"] {
            let err = field(large).unwrap_err();
            assert!(err.contains(&format!("{large} is out of range")), "{err}");
        }
    }
}
