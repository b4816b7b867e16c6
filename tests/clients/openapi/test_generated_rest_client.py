"""A REST client generated from docs/openapi.json by openapi-python-client
(another team's generator) drives the README flow against a live
`runway serve`, through the generated typed models only: every request is
built from them and every answer, the errors included, is parsed into them.
"""

import os

from runway_client import AuthenticatedClient
from runway_client.api.agents import create_agent
from runway_client.api.deployments import (
    archive_deployment,
    create_deployment,
    get_deployment,
    pause_deployment,
    unpause_deployment,
    update_deployment,
)
from runway_client.api.environments import create_environment
from runway_client.api.runs import (
    cancel_deployment_run,
    get_deployment_run,
    list_deployment_runs,
    list_runs,
    run_deployment,
)
from runway_client.api.sessions import get_session
from runway_client.models import (
    Agent,
    ApiErrorType,
    CasConfigInput,
    CreateAgentBody,
    CreateDeploymentBody,
    CreateEnvironmentBody,
    Deployment,
    DeploymentConfigInput,
    DeploymentMetadataInput,
    DeploymentMetadataPatch,
    DeploymentRun,
    DeploymentRunList,
    DeploymentStatus,
    Environment,
    ErrorEnvelope,
    InitialEventInput,
    InitialEventType,
    PausedReasonType,
    RunErrorType,
    RunStatus,
    ScheduleInput,
    Session,
    SessionStatus,
    TriggerType,
    UpdateDeploymentBody,
)


def client() -> AuthenticatedClient:
    return AuthenticatedClient(
        base_url=os.environ["RUNWAY_HTTP"], token=os.environ["RUNWAY_TOKEN"]
    )


def test_the_readme_flow_through_typed_models():
    api = client()

    agent = create_agent.sync(
        client=api,
        body=CreateAgentBody(
            name="reporter",
            model="claude-sonnet-4-5",
            system="You write short status reports.",
        ),
    )
    assert isinstance(agent, Agent), agent
    assert agent.version == 1

    env = create_environment.sync(client=api, body=CreateEnvironmentBody(name="default"))
    assert isinstance(env, Environment), env

    metadata = DeploymentMetadataInput(
        cas_config=CasConfigInput(config=DeploymentConfigInput(max_concurrent=1))
    )
    metadata["team"] = "platform"
    dep = create_deployment.sync(
        client=api,
        idempotency_key="readme-flow-create",
        body=CreateDeploymentBody(
            name="daily-report",
            agent=agent.id,
            environment_id=env.id,
            initial_events=[
                InitialEventInput(
                    type_=InitialEventType.USER_MESSAGE,
                    content="Generate today's status report",
                )
            ],
            schedule=ScheduleInput(expression="0 9 * * *", timezone="Asia/Shanghai"),
            metadata=metadata,
        ),
    )
    assert isinstance(dep, Deployment), dep
    assert dep.status == DeploymentStatus.ACTIVE
    assert dep.schedule.timezone == "Asia/Shanghai"
    assert len(dep.schedule.upcoming_runs_at) == 5
    assert dep.metadata.cas_config.config.max_concurrent == 1
    assert dep.metadata["team"] == "platform"
    assert dep.agent.id == agent.id and dep.agent.version == 1

    run = run_deployment.sync(client=api, id=dep.id)
    assert isinstance(run, DeploymentRun), run
    assert run.status == RunStatus.RUNNING
    assert run.trigger_context.type_ == TriggerType.MANUAL
    assert run.cas_run_extras.attempt == 1

    read = get_deployment_run.sync(client=api, run_id=run.id)
    assert isinstance(read, DeploymentRun) and read.id == run.id

    of_deployment = list_deployment_runs.sync(client=api, id=dep.id, limit=10)
    assert isinstance(of_deployment, DeploymentRunList), of_deployment
    assert [r.id for r in of_deployment.data] == [run.id]
    everywhere = list_runs.sync(client=api, deployment_id=dep.id, status=RunStatus.RUNNING)
    assert isinstance(everywhere, DeploymentRunList)
    assert [r.id for r in everywhere.data] == [run.id]
    assert everywhere.has_more is False and everywhere.next_page is None

    paused = pause_deployment.sync(client=api, id=dep.id)
    assert isinstance(paused, Deployment)
    assert paused.status == DeploymentStatus.PAUSED
    assert paused.paused_reason.type_ == PausedReasonType.MANUAL
    refused = run_deployment.sync_detailed(client=api, id=dep.id)
    assert refused.status_code == 409
    assert isinstance(refused.parsed, ErrorEnvelope), refused.parsed
    assert refused.parsed.error.type_ == ApiErrorType.CONFLICT_ERROR
    assert refused.parsed.error.message == f"Deployment {dep.id} is paused"
    assert refused.parsed.request_id == refused.headers["x-request-id"]

    unpaused = unpause_deployment.sync(client=api, id=dep.id)
    assert isinstance(unpaused, Deployment) and unpaused.status == DeploymentStatus.ACTIVE
    assert unpaused.paused_reason is None

    patch = DeploymentMetadataPatch(cas_config=CasConfigInput(config=DeploymentConfigInput(max_retries=2)))
    patch["team"] = None
    updated = update_deployment.sync(
        client=api,
        id=dep.id,
        body=UpdateDeploymentBody(name="daily-report-v2", metadata=patch),
    )
    assert isinstance(updated, Deployment), updated
    assert updated.name == "daily-report-v2"
    assert updated.metadata.cas_config.config.max_retries == 2
    assert "team" not in updated.metadata.additional_properties

    canceled = cancel_deployment_run.sync(client=api, run_id=run.id)
    assert isinstance(canceled, DeploymentRun), canceled
    assert canceled.status == RunStatus.FAILED
    assert canceled.error.type_ == RunErrorType.CANCELED_ERROR

    session = get_session.sync(client=api, id=run.session_id)
    assert isinstance(session, Session), session
    assert session.deployment_run_id == run.id
    assert session.status == SessionStatus.IDLE
    assert session.agent.id == agent.id

    archived = archive_deployment.sync(client=api, id=dep.id)
    assert isinstance(archived, Deployment) and archived.archived_at is not None
    assert archived.schedule.upcoming_runs_at == []
    gone = get_deployment.sync_detailed(client=api, id="dep_00000000000000000000000000000000")
    assert gone.status_code == 404
    assert isinstance(gone.parsed, ErrorEnvelope)
    assert gone.parsed.error.type_ == ApiErrorType.NOT_FOUND_ERROR
