"""Production packaging: a multi-stage, non-root image built from the production lock, and a compose file that runs
the API, a worker, beat, PostgreSQL and Redis with health checks. Where Docker (with compose) is available, the
stack is built and started for real and answers /api/v1/health."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_image_is_multi_stage_non_root_and_pinned():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(stages) >= 2
    final = dockerfile.split(stages[-1], 1)[1]
    user = [line.split()[1] for line in final.splitlines() if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")
    assert "--require-hashes -r /tmp/requirements.lock" in dockerfile
    assert "HEALTHCHECK" in final and "/api/v1/health" in final
    for package in ("api", "jobs", "kernel", "forum", "c2b", "economy", "moderation", "operations", "migrations"):
        assert f"COPY --chown=community:community {package} ./{package}" in final, package


def test_compose_runs_every_part_with_health_checks():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"api", "worker", "beat", "db", "redis", "migrate"} <= set(services)
    for name in ("worker", "beat", "db", "redis"):
        assert services[name]["healthcheck"]["test"], name
    # The API's check is the image's HEALTHCHECK; it starts once the migrations ran and its stores are healthy.
    assert "healthcheck" not in services["api"]
    depends = services["api"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["db"]["condition"] == depends["redis"]["condition"] == "service_healthy"
    assert services["api"]["command"][-1].endswith("gunicorn --config gunicorn.conf.py wsgi:app")
    assert services["api"]["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")


def _docker_with_compose() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    for args in (["info"], ["compose", "version"]):
        if subprocess.run([docker, *args], capture_output=True, timeout=30).returncode != 0:
            return False
    return True


@pytest.mark.skipif(not _docker_with_compose(), reason="needs a running Docker daemon with the compose plugin")
def test_the_stack_builds_starts_and_is_healthy():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SECRET_KEY": "compose-test", "JWT_SECRET_KEY": "compose-test-jwt", "API_PORT": str(port)}
    project = ["docker", "compose", "-p", f"community-test-{port}"]
    try:
        subprocess.run([*project, "up", "--build", "--detach", "--wait"], cwd=ROOT, env=env, check=True, timeout=1200)
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert health.status_code == 200
        assert health.json()["database"] == {"ok": True, "backend": "postgresql"}
        assert health.json()["store"]["backend"] == "redis"
    finally:
        subprocess.run([*project, "down", "--volumes"], cwd=ROOT, env=env, timeout=300)
