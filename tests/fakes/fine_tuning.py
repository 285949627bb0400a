"""The files and fine-tuning endpoints of an OpenAI-compatible server, in OpenAI's wire format:
``POST /v1/files`` (multipart, purpose fine-tune), ``POST /v1/fine_tuning/jobs``,
``GET /v1/fine_tuning/jobs/{id}`` and ``…/events``.  A test moves a job along with ``finish``."""

from __future__ import annotations

import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any


class FakeFineTuning:
    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (file name, content)
        self.jobs: dict[str, dict[str, Any]] = {}

    def finish(self, job_id: str, model: str) -> None:
        self.jobs[job_id].update(status="succeeded", fine_tuned_model=model, trained_tokens=12345,
                                 finished_at=int(time.time()))

    def post(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]] | None:
        if path.endswith("/files"):
            message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
            parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
            upload, purpose = parts.get("file"), parts.get("purpose")
            if upload is None or purpose is None or purpose.get_content().strip() != "fine-tune":
                return 400, {"error": {"message": "file and purpose=fine-tune are required", "type": "invalid_request_error"}}
            file_id = f"file-{len(self.files) + 1}"
            content = upload.get_payload(decode=True) or b""
            self.files[file_id] = (upload.get_filename() or "upload.jsonl", content)
            return 200, {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                         "filename": self.files[file_id][0], "purpose": "fine-tune", "status": "processed"}
        if path.endswith("/fine_tuning/jobs"):
            import json

            request = json.loads(body or b"{}")
            if request.get("training_file") not in self.files:
                return 400, {"error": {"message": "unknown training_file", "type": "invalid_request_error"}}
            job_id = f"ftjob-{len(self.jobs) + 1}"
            self.jobs[job_id] = {
                "id": job_id, "object": "fine_tuning.job", "model": request.get("model"), "created_at": int(time.time()),
                "status": "validating_files", "training_file": request["training_file"], "fine_tuned_model": None,
                "organization_id": "org-fake", "result_files": [], "seed": 42, "hyperparameters": {"n_epochs": "auto"},
                "trained_tokens": None, "validation_file": None, "error": None, "finished_at": None,
                "suffix": request.get("suffix")}
            return 200, self.jobs[job_id]
        return None

    def get(self, path: str) -> tuple[int, dict[str, Any]] | None:
        if "/fine_tuning/jobs/" not in path:
            return None
        job_id, _, rest = path.split("/fine_tuning/jobs/", 1)[1].split("?")[0].partition("/")
        job = self.jobs.get(job_id)
        if job is None:
            return 404, {"error": {"message": f"No such job: {job_id}", "type": "invalid_request_error",
                                   "code": "fine_tune_not_found"}}
        if rest == "events":
            return 200, {"object": "list", "has_more": False, "data": [
                {"id": f"ftevent-{n}", "object": "fine_tuning.job.event", "created_at": job["created_at"] + n,
                 "level": "info", "message": message, "type": "message"}
                for n, message in enumerate(reversed(["Validating training file", f"Job {job['status']}"]))]}
        return 200, job
