"""The committed client contract matches the API: clients/openapi.json is the document the app serves, and
clients/typescript/api.d.ts is what the pinned openapi-typescript makes of it. Regenerate with
scripts/generate-client."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "clients"


def test_the_committed_document_is_the_served_one(app):
    served = app.test_client().get("/api/v1/openapi.json").get_json()
    committed = json.loads((CLIENTS / "openapi.json").read_text())
    assert committed == served, "the API changed: run scripts/generate-client and commit clients/"


def test_the_main_operations_carry_examples(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    operations = {
        op["operationId"]: op for item in document["paths"].values() for op in item.values() if "operationId" in op
    }

    def request_example(name: str):
        return operations[name]["requestBody"]["content"]["application/json"].get("example")

    def response_example(name: str, status: str):
        return operations[name]["responses"][status]["content"]["application/json"].get("example")

    for name in ("register", "login", "wechat", "createPost", "createReply", "support"):
        assert request_example(name), name
    assert response_example("register", "201")["created"] is True
    assert response_example("login", "200")["user"]["username"] == "xiaoming"
    assert response_example("checkIn", "201")["streak"] == 7


def test_the_typescript_types_are_generated_from_the_document(tmp_path):
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            pytest.fail("npm is required in CI to check the TypeScript client")
        pytest.skip("needs Node.js and npm")
    package = CLIENTS / "typescript"
    if not (package / "node_modules" / ".bin" / "openapi-typescript").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=package, check=True, timeout=300)
    output = tmp_path / "api.d.ts"
    subprocess.run(
        [str(package / "node_modules" / ".bin" / "openapi-typescript"), "../openapi.json", "--output", str(output)],
        cwd=package,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert output.read_text() == (package / "api.d.ts").read_text(), "run scripts/generate-client and commit clients/"
