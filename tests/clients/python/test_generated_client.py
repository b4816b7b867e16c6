"""A client generated from runway's proto, by another team's toolchain
(grpcio-tools), against a live `runway serve`: create → run → get → list →
pause → run (refused with FAILED_PRECONDITION, as REST answers 409)."""

import os
import re
import subprocess
import tempfile

import grpc
import pytest

from runway.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from runway.v1 import deployment_pb2, deployment_run_pb2
from runway.v1 import deployment_service_pb2 as dep_pb2
from runway.v1 import deployment_service_pb2_grpc as dep_grpc
from runway.v1 import environment_pb2, environment_pb2_grpc


@pytest.fixture(scope="module")
def server():
    data = tempfile.mkdtemp()
    proc = subprocess.Popen(
        [os.environ["RUNWAY_BIN"], "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
         "--data-dir", data],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    address = None
    for line in proc.stdout:
        match = re.match(r"runway: gRPC on (\S+), REST on", line)
        if match:
            address = match.group(1)
            break
    assert address, "runway serve did not start"
    with open(os.path.join(data, "admin-token")) as f:
        token = f.read().strip()
    yield address, token
    proc.terminate()
    proc.wait(timeout=30)


def test_create_run_get_list_pause_run(server):
    address, token = server
    auth = [("authorization", f"Bearer {token}")]
    channel = grpc.insecure_channel(address)
    agents = agent_pb2_grpc.AgentServiceStub(channel)
    environments = environment_pb2_grpc.EnvironmentServiceStub(channel)
    deployments = dep_grpc.DeploymentServiceStub(channel)

    agent = agents.CreateAgent(agent_pb2.CreateAgentRequest(name="py", model="claude-sonnet-4-5"), metadata=auth).agent
    env = environments.CreateEnvironment(environment_pb2.CreateEnvironmentRequest(name="py"), metadata=auth).environment
    event = deployment_pb2.InitialEvent(type=deployment_pb2.INITIAL_EVENT_TYPE_USER_MESSAGE)
    event.content.string_value = "Generate today's status report"
    created = deployments.CreateDeployment(
        dep_pb2.CreateDeploymentRequest(
            name="daily-report",
            agent=common_pb2.AgentRef(id=agent.id),
            environment_id=env.id,
            initial_events=[event],
        ),
        metadata=auth,
    ).deployment
    assert created.id.startswith("dep_") and len(created.id) == 36
    assert created.agent.version == 1
    assert created.cas_config.config.max_concurrent == 1

    run = deployments.RunDeployment(dep_pb2.RunDeploymentRequest(deployment_id=created.id), metadata=auth).run
    assert run.id.startswith("drun_")
    assert run.status == deployment_run_pb2.DEPLOYMENT_RUN_STATUS_RUNNING
    assert run.trigger_context.type == deployment_run_pb2.TRIGGER_TYPE_MANUAL
    assert run.session_id.startswith("sess_")
    assert run.cas_run_extras.attempt == 1

    got = deployments.GetDeploymentRun(dep_pb2.GetDeploymentRunRequest(run_id=run.id), metadata=auth).run
    assert got == run

    listed = deployments.ListDeploymentRuns(
        dep_pb2.ListDeploymentRunsRequest(deployment_id=created.id), metadata=auth
    )
    assert [r.id for r in listed.runs] == [run.id]
    assert listed.page_info.first_id == run.id and not listed.page_info.has_more

    paused = deployments.PauseDeployment(dep_pb2.PauseDeploymentRequest(deployment_id=created.id), metadata=auth)
    assert paused.deployment.status == deployment_pb2.DEPLOYMENT_STATUS_PAUSED

    with pytest.raises(grpc.RpcError) as refused:
        deployments.RunDeployment(dep_pb2.RunDeploymentRequest(deployment_id=created.id), metadata=auth)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "paused" in refused.value.details()

    with pytest.raises(grpc.RpcError) as unauthenticated:
        deployments.GetDeployment(dep_pb2.GetDeploymentRequest(deployment_id=created.id))
    assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
