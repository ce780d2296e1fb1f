"""Namespaces of the client: `client.models` (train once, generate many) and `client.constraints`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferloop_client.data import DataInput, file_part, is_remote, json_part
from inferloop_client.errors import APITimeoutError
from inferloop_client.jobs import Job

if TYPE_CHECKING:
    import pandas as pd

    from inferloop_client.tabular import TabularClient


class Models:
    """Saved models: `create` trains one (a job), `generate` samples from it as often as you like."""

    def __init__(self, client: "TabularClient"):
        self._c = client

    def create(self, data: DataInput, name: str, algorithm: str = "sdv", *, parameters: dict | None = None,
               description: str = "", seed: int | None = None, constraints: Any = None,
               constraint_id: str | None = None, wait: bool = False, progress: bool = False,
               timeout: float | None = None) -> dict[str, Any]:
        """Train a model on `data` (URL, path or DataFrame). Returns {model_id, status: training,
        training_job_id, ...}; with `wait`, waits for training and returns the model (JobFailedError if it fails).
        """
        if is_remote(data):
            body = {"name": name, "algorithm": algorithm, "training_data_url": data.strip(),
                    "parameters": parameters or {}, "description": description, "seed": seed,
                    "constraint_id": constraint_id, "constraints": constraint_list(constraints)}
            answer = self._c._api("POST", "/models", json={k: v for k, v in body.items() if v is not None})
        else:
            form = {"name": name, "algorithm": algorithm, "parameters": json.dumps(parameters or {}),
                    "description": description, "seed": seed, "constraint_id": constraint_id}
            files = [file_part("file", data)]
            if constraints is not None:
                files.append(json_part("constraints", constraints, "constraints"))
            answer = self._c._api("POST", "/models", data=form, files=files, timeout=self._c.sync_timeout)
        if not wait:
            return answer
        return self.wait(answer["model_id"], timeout=timeout, progress=progress,
                         training_job_id=answer.get("training_job_id"))

    def wait(self, model_id: str, timeout: float | None = None, progress: bool = False,
             training_job_id: str | None = None) -> dict[str, Any]:
        """Wait until the model is trained; returns it. JobFailedError when training failed."""
        job_id = training_job_id or self.get(model_id)["training_job_id"]
        Job(self._c, job_id).wait(timeout=timeout, progress=progress)
        return self.get(model_id)

    def page(self, page: int = 1, per_page: int = 20, *, algorithm: str | None = None, sort: str | None = None,
             order: str | None = None) -> dict[str, Any]:
        """One page of models as the API answers it: {models, pagination}."""
        return self._c._api("GET", "/models", params={"page": page, "per_page": per_page, "algorithm": algorithm,
                                                      "sort": sort, "order": order})

    def list(self, *, algorithm: str | None = None, sort: str | None = None,
             order: str | None = None) -> list[dict[str, Any]]:
        """Every model of the caller (all pages)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.page(page, 100, algorithm=algorithm, sort=sort, order=order)
            out.extend(body["models"])
            if page >= (body["pagination"].get("pages") or 0):
                return out
            page += 1

    def get(self, model_id: str) -> dict[str, Any]:
        return self._c._api("GET", f"/models/{model_id}")

    def delete(self, model_id: str) -> dict[str, Any]:
        return self._c._api("DELETE", f"/models/{model_id}")

    def generate(self, model_id: str, num_rows: int = 1000, *, conditions: dict[str, Any] | None = None,
                 seed: int | None = None, format: str = "csv", output: str | Path | None = None,
                 wait_timeout: float | None = None) -> "pd.DataFrame | Path":
        """Rows from a saved model (conditions: {"col": value | ">30" | [a, b]}): a DataFrame, or a file."""
        body = {"num_rows": num_rows, "conditions": conditions, "seed": seed, "format": format}
        try:
            answer = self._c._sync("POST", f"/models/{model_id}/generate",
                                   json={k: v for k, v in body.items() if v is not None})
            generation_id = answer["generation_id"]
        except APITimeoutError as exc:
            if not exc.job_id:
                raise
            generation_id = exc.job_id
            answer = Job(self._c, generation_id).wait(timeout=wait_timeout).get("result", {})
        if output is not None:
            return self._c.download(generation_id, output)
        df = self._c.download(generation_id)
        df.attrs["inferloop"] = answer
        return df


class Constraints:
    """Constraint sets (`POST /constraints`): name them once, use them when training models."""

    def __init__(self, client: "TabularClient"):
        self._c = client

    def create(self, name: str, constraints: list[dict[str, Any]] | str | Path) -> dict[str, Any]:
        """Store a set (a list of constraint dicts, or a JSON file of them): {constraint_id, validation_status}."""
        return self._c._api("POST", "/constraints", json={"name": name, "constraints": constraint_list(constraints)})

    def list(self) -> list[dict[str, Any]]:
        """The caller's sets (without their constraints)."""
        return self._c._api("GET", "/constraints")["constraint_sets"]

    def get(self, constraint_id: str) -> dict[str, Any]:
        """One set with its (normalised) constraints."""
        return self._c._api("GET", f"/constraints/{constraint_id}")


def constraint_list(constraints: Any) -> list[dict[str, Any]] | None:
    """Constraints as a list: given as one, or read from a JSON file (a list or {"constraints": [...]})."""
    if constraints is None or isinstance(constraints, list):
        return constraints
    if isinstance(constraints, (str, Path)):
        loaded = json.loads(Path(constraints).expanduser().read_text())
        return loaded.get("constraints", loaded) if isinstance(loaded, dict) else loaded
    raise TypeError("constraints must be a list of dicts or the path of a JSON file")
