"""The deploy files pass their ecosystems' own checkers: hadolint on the Dockerfile,
``kubectl kustomize`` renders the example overlay and ``kubernetes-validate`` checks every
rendered object against the Kubernetes schema; and they say what the bot needs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GRACE = Settings.model_fields["shutdown_grace_seconds"].default
NOT_SERVED_OVER_HTTP = {"SLACK_APP_TOKEN"}  # Socket Mode (`python -m bot socket`), not the HTTP deployment


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is installed with the test dependencies (requirements-test.txt)"
    return found


def credentials() -> set[str]:
    return {field.alias for field in Settings.model_fields.values()
            if field.alias and SecretStr in (getattr(field.annotation, "__args__", None) or (field.annotation,))}


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    out = subprocess.run([tool("kubectl"), "kustomize", str(ROOT / "deploy/kubernetes/overlays/example")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def test_hadolint_passes_the_dockerfile():
    out = subprocess.run([tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_image_installs_the_lock_with_hashes_runs_as_non_root_under_tini_and_checks_healthz(tmp_path):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r /src/requirements.txt" in dockerfile
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"]' in dockerfile
    assert "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1]
    assert re.search(r'^CMD \["sh", "-c", "exec python -m bot serve', dockerfile, re.M), "exec: SIGTERM reaches the bot"
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which is missing"
    # The tokenizer is seeded at build time (a read-only root at run time): the same command works here.
    snippet = re.search(r'python -c "(.+?)"$', dockerfile.replace("\\\n", ""), re.M).group(1)
    seeded = tmp_path / "tiktoken"
    subprocess.run([sys.executable, "-c", snippet.replace("/opt/tiktoken", str(seeded))], check=True, timeout=120)
    assert len(list(seeded.iterdir())) >= 2


def test_kubernetes_validate_passes_every_rendered_object(rendered, tmp_path):
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(rendered))
    out = subprocess.run([tool("kubernetes-validate"), "--strict", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    kinds = {doc["kind"] for doc in rendered}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Ingress"} <= kinds


def test_the_deployment_is_probed_bounded_unprivileged_and_scraped(rendered):
    [deployment] = [doc for doc in rendered if doc["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    [bot] = spec["containers"]
    assert bot["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert bot["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert spec["terminationGracePeriodSeconds"] > GRACE + 2, "answers in progress finish before the kill"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert bot["securityContext"]["readOnlyRootFilesystem"] is True
    assert bot["securityContext"]["allowPrivilegeEscalation"] is False
    assert bot["resources"]["requests"] and bot["resources"]["limits"]["memory"]
    assert {m["mountPath"] for m in bot["volumeMounts"]} == {"/tmp"}
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith("registry.example.com/")

    env = {item["name"]: item for item in bot["env"]}
    for name in credentials() - NOT_SERVED_OVER_HTTP:
        assert name in env, f"{name} is not passed to the bot"
        assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["name"] == "slack-assistant", \
            f"{name} must come from the Secret"
    assert "secretKeyRef" in env["REDIS_URL"]["valueFrom"], "REDIS_URL may hold a password"


def test_the_service_budget_and_autoscaler_select_the_bots_pods(rendered):
    by_kind = {doc["kind"]: doc for doc in rendered}
    labels = by_kind["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert by_kind["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert by_kind["Service"]["spec"]["selector"].items() <= labels.items()
    assert by_kind["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert by_kind["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == by_kind["Deployment"]["metadata"]["name"]
    assert all(doc["metadata"].get("namespace") == "slack-assistant" for doc in rendered if doc["kind"] != "Namespace")


def test_compose_runs_the_bot_beside_a_redis_that_keeps_its_data():
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    bot, redis = compose["services"]["bot"], compose["services"]["redis"]
    assert (ROOT / "deploy" / bot["build"]["context"] / "Dockerfile").is_file()
    assert bot["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy" and "healthcheck" in redis
    assert int(bot["stop_grace_period"].rstrip("s")) > GRACE + 2
    assert bot["read_only"] is True and "/tmp" in bot["tmpfs"]
    assert any(volume.startswith("redis-data:") for volume in redis["volumes"]) and "redis-data" in compose["volumes"]
    assert "noeviction" in redis["command"] and "--appendonly" in redis["command"]


def test_the_run_and_test_commands_skip_pip_when_nothing_changed(tmp_path):
    """scripts/install.sh against a stand-in for .venv's python that only records what pip was asked."""
    import shutil
    import subprocess

    shutil.copy(ROOT / "scripts" / "install.sh", tmp_path / "install.sh")
    (tmp_path / "requirements.txt").write_text("slack-bolt==1.0 --hash=sha256:00\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "$@" >> pip-calls.log\n')
    python.chmod(0o755)

    def install() -> str:
        done = subprocess.run(["bash", "-c", ". ./install.sh && install_locked requirements.txt"], cwd=tmp_path,
                              capture_output=True, text=True, check=True)
        return done.stderr

    install()
    assert install().startswith("dependencies unchanged since the last install (requirements.txt): not installing")
    calls = (tmp_path / "pip-calls.log").read_text().splitlines()
    assert len(calls) == 2 and "-r requirements.txt" in calls[0] and "--no-deps -e ." in calls[1], calls
    (tmp_path / "requirements.txt").write_text("slack-bolt==1.1 --hash=sha256:11\n")
    install()
    assert len((tmp_path / "pip-calls.log").read_text().splitlines()) == 4, "a changed lock file is installed"


def test_promtool_passes_the_alert_rules_and_their_unit_tests():
    promtool = tool("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(ROOT / "deploy" / "alerts.yaml")], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0 and "SUCCESS: 7 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "alerts_test.yaml"], cwd=ROOT / "tests" / "promtool",
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_alerts_and_the_dashboard_use_only_what_the_bot_exports_and_the_dashboard_imports_anywhere():
    import json

    from bot.observability.metrics import Metrics

    families = list(Metrics().registry.collect())
    exported = {s.name for f in families for s in f.samples} | {f"{f.name}_total" for f in families if f.type == "counter"}
    exported |= {f"{name}_bucket" for name in exported}
    exported |= {f"{f.name}{part}" for f in families if f.type == "histogram" for part in ("_sum", "_count", "_bucket")}
    rules = yaml.safe_load((ROOT / "deploy" / "alerts.yaml").read_text())["groups"][0]["rules"]
    used = {name for rule in rules for name in re.findall(r"\bassistant_[a-z_]+", rule["expr"])}
    assert used and used <= exported, used - exported
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus", "Grafana's import asks which Prometheus to use"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= variables
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert all('job=~"$job"' in e and 'instance=~"$instance"' in e for e in exprs)
    assert not any("[5m]" in e for e in exprs) and any("[$__rate_interval]" in e for e in exprs)

