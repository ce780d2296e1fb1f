"""Work-pool base job templates and prefect.yaml: accepted by a real Prefect server, GPUs requested."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = {"process": "process-base-job-template.json", "docker": "docker-gpu-base-job-template.json",
             "kubernetes": "kubernetes-gpu-base-job-template.json"}


def template(kind: str) -> dict:
    return json.loads((ROOT / "deployments" / TEMPLATES[kind]).read_text())


def defaults(tpl: dict) -> dict:
    return {k: v.get("default") for k, v in tpl["variables"]["properties"].items()}


@pytest.mark.parametrize("kind", list(TEMPLATES))
def test_templates_are_accepted_by_prefect(prefect_platform, kind):
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async def create():
        async with get_client() as client:
            pool = await client.create_work_pool(
                WorkPoolCreate(name=f"tpl-{kind}", type=kind, base_job_template=template(kind)), overwrite=True)
            await client.delete_work_pool(pool.name)
            return pool

    pool = asyncio.run(create())
    assert pool.base_job_template["job_configuration"] == template(kind)["job_configuration"]


def test_kubernetes_jobs_request_one_gpu_each():
    from prefect.utilities.templating import apply_values

    tpl = template("kubernetes")
    rendered = apply_values(tpl["job_configuration"], defaults(tpl))
    container = rendered["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"] == "inferloop/tabular:latest"
    assert rendered["env"]["INFERLOOP_PROJECT_DIR"] == "/app"


def test_docker_containers_get_the_hosts_gpus():
    tpl = template("docker")
    requests = defaults(tpl)["container_create_kwargs"]["device_requests"]
    assert requests == [{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}]


def test_every_flow_is_deployed_on_the_pool_and_the_example_schedule_is_inactive(prefect_platform, settings):
    from prefect import get_client

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    entrypoints = {d["entrypoint"].split(":")[0] for d in spec["deployments"]}
    flows = {f"flows/{p.name}" for p in (ROOT / "flows").glob("*.py")
             if "@flow" in p.read_text() and p.name != "__init__.py"}
    assert flows <= entrypoints, f"flows without a deployment: {flows - entrypoints}"

    async def read():
        async with get_client() as client:
            return [await client.read_deployment_by_name(f"generate/{d['name']}") for d in spec["deployments"]
                    if d["entrypoint"].endswith(":generate")]

    deployments = asyncio.run(read())
    assert {d.work_pool_name for d in deployments} == {settings.work_pool}
    nightly = next(d for d in deployments if d.name == "generate-nightly")
    assert len(nightly.schedules) == 1 and nightly.schedules[0].active is False


def test_no_flow_module_shadows_the_standard_library():
    """Prefect puts an entrypoint's folder on sys.path: flows/profile.py once hid the stdlib `profile`
    (cProfile, imported during training, then failed). No module of a flow folder may share its name with a
    module of the standard library or of an installed package."""
    import importlib.util
    import sys

    stems = {p.stem for p in (ROOT / "flows").rglob("*.py")} - {"__init__"}
    shadowing = {s for s in stems if s in sys.stdlib_module_names or importlib.util.find_spec(s) is not None}
    assert not shadowing, f"rename these flow modules: {shadowing}"
