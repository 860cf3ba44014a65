"""kubernetes/: every overlay renders, validates strictly and keeps the ECS task's contract.

Offline: `kubectl kustomize` renders each overlay (a machine without kubectl skips these tests and
says why); kubernetes-validate checks the built-in kinds strictly against the Kubernetes schemas;
checkov's kubernetes framework must find nothing that is not skipped with a reason in an annotation.
The CRD kinds (PodMonitor, PrometheusRule, Rollout, AnalysisTemplate) are checked structurally here:
the fields the contract relies on, not the CRDs' full schemas. Only a real cluster shows that the
pods schedule, pass their probes, and that the operators act on those objects.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import SecretStr

from app.settings import Settings
from tests.infra.conftest import ROOT, assert_clean, run_tool, tool_path
from tests.infra.test_terraform import TERRAFORM, _clean

KUBERNETES = ROOT / "kubernetes"
OVERLAYS = ("dev", "staging", "prod")
RULES = ROOT / "ops" / "prometheus" / "rules"
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
CRD_KINDS = frozenset({"PodMonitor", "PrometheusRule", "Rollout", "AnalysisTemplate"})
ENTRY = re.compile(r"^(?:# )?(?P<name>[A-Z][A-Z0-9_]*)=")
CANARY_MATCHERS = ', namespace="{{args.namespace}}", rollouts_pod_template_hash="{{args.canary-hash}}"'

needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None,
    reason="kubectl is not installed: the Kubernetes manifests were NOT rendered or checked",
)
pytestmark = needs_kubectl


@functools.cache
def rendered(overlay: str) -> str:
    result = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"S3: overlays/{overlay} does not render:\n{result.stderr}"
    return result.stdout


def objects(overlay: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered(overlay)) if doc]


def one(overlay: str, kind: str, name: str = "orders-api") -> dict[str, Any]:
    found = [o for o in objects(overlay) if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"overlays/{overlay} must render one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(overlay: str, kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(overlay, kind, name)["spec"]["template"]["spec"]
    return spec


def env_example_names() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {match.group("name") for line in lines if (match := ENTRY.match(line))}


def secret_settings() -> set[str]:
    secret = {SecretStr, list[SecretStr]}
    return {
        name.upper()
        for name, field in Settings.model_fields.items()
        if field.annotation in secret or SecretStr in get_args(field.annotation)
    }


def config(overlay: str) -> dict[str, str]:
    maps = [o for o in objects(overlay) if o["kind"] == "ConfigMap"]
    assert len(maps) == 1, f"overlays/{overlay} must render one ConfigMap"
    data: dict[str, str] = maps[0]["data"]
    return data


def setting(overlay: str, name: str) -> float:
    value = config(overlay).get(name)
    default = Settings.model_fields[name.lower()].default
    return float(value if value is not None else default)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_with_pdb_hpa_and_network_policy(overlay: str) -> None:
    kinds = {o["kind"] for o in objects(overlay)}
    for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"):
        assert kind in kinds, f"overlays/{overlay} renders no {kind}"
    for kind in ("HorizontalPodAutoscaler", "NetworkPolicy", "Job"):
        assert kind in kinds, f"overlays/{overlay} renders no {kind}"
    for o in objects(overlay):
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == f"orders-api-{overlay}", o["metadata"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_built_in_kinds_validate_strictly(overlay: str, tmp_path: Path) -> None:
    core = [o for o in objects(overlay) if o["kind"] not in CRD_KINDS]
    path = tmp_path / f"{overlay}.yaml"
    path.write_text(yaml.safe_dump_all(core))
    for version in ("1.30.0", "1.37.0"):  # the oldest supported (preStop sleep) and the newest schemas
        result = run_tool("kubernetes-validate", "--strict", "--quiet", "-k", version, str(path))
        assert_clean(result, f"S3: overlays/{overlay} against Kubernetes {version}")


def test_checkov_finds_nothing_unexplained(tmp_path: Path) -> None:
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay}.yaml").write_text(rendered(overlay))
    result = run_tool(
        "checkov", "--skip-download", "--framework", "kubernetes", "-d", str(tmp_path), "--compact", "--quiet"
    )
    assert_clean(result, "D5/D6: checkov on the rendered overlays")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_come_from_env_example_names_and_secrets_from_the_secret(overlay: str) -> None:
    names, secrets = env_example_names(), secret_settings()
    data = config(overlay)
    assert set(data) <= names, f"E4: ConfigMap keys not in .env.example: {sorted(set(data) - names)}"
    assert not set(data) & secrets, f"T8: secrets in the ConfigMap: {sorted(set(data) & secrets)}"
    assert data["APP_ENV"] == overlay
    for kind, name in (("Deployment", "orders-api"), ("Job", "orders-api-migrate")):
        container = pod_spec(overlay, kind, name)["containers"][0]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
        assert set(refs) == secrets, f"T8: {kind} must read exactly {sorted(secrets)} from the Secret"
        assert all(ref == {"name": "orders-api", "key": key} for key, ref in refs.items())
        assert all("value" not in e for e in container["env"]), "T8: no literal env values beside secrets"


def ecs_settings(environment: str) -> dict[str, str]:
    """The settings terraform/environments/<environment> gives its ECS task (`app_environment`)."""
    link = Path(tool_path("hcl2-python"))  # a link into python-hcl2's venv: run its target
    python = os.readlink(link) if link.is_symlink() else str(link)
    script = "import hcl2, json, sys; print(json.dumps(hcl2.load(open(sys.argv[1]))))"
    result = run_tool(python, "-c", script, str(TERRAFORM / "environments" / environment / "main.tf"))
    assert_clean(result, "T3")
    modules = _clean(json.loads(result.stdout))["module"]
    (stack,) = [block["stack"] for block in modules if "stack" in block]
    settings: dict[str, str] = stack["app_environment"]
    return settings


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_sets_the_feature_flags_its_ecs_environment_sets(overlay: str) -> None:
    """One contract, two targets: a flag on in ECS dev is on in Kubernetes dev, and so on; a flag set
    in neither takes the setting's default in both."""
    ecs = {name: value for name, value in ecs_settings(overlay).items() if name.startswith("FF_")}
    kubernetes = {name: value for name, value in config(overlay).items() if name.startswith("FF_")}
    assert kubernetes == ecs, f"E4: overlays/{overlay} and environments/{overlay} set different flags"
    flags = {name.upper() for name in Settings.model_fields if name.startswith("ff_")}
    assert set(ecs) <= flags, f"flags no setting reads: {sorted(set(ecs) - flags)}"


def app_routes() -> set[str]:
    from app.api.health_routes import router

    return {getattr(route, "path", "") for route in router.routes}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_keeps_the_ecs_contract(overlay: str) -> None:
    spec = pod_spec(overlay, "Deployment", "orders-api")
    (app,) = spec["containers"]
    assert app["command"] == ["python", "-m", "app", "serve"]
    ports = {port["name"]: port["containerPort"] for port in app["ports"]}
    assert ports == {"http": int(setting(overlay, "PORT")), "metrics": int(setting(overlay, "METRICS_PORT"))}
    assert ports["http"] == Settings.model_fields["port"].default
    routes = app_routes()
    for probe, path in (("startupProbe", "/health/live"), ("livenessProbe", "/health/live")):
        assert app[probe]["httpGet"] == {"path": path, "port": "http"}
    assert app["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert {"/health/live", "/health/ready"} <= routes, "M6: the probes' paths are not routes of the app"
    assert setting(overlay, "HEALTH_TIMEOUT") < app["readinessProbe"]["timeoutSeconds"] <= 1
    pre_stop = app["lifecycle"]["preStop"]["sleep"]["seconds"]
    budget = pre_stop + setting(overlay, "DRAIN_SECONDS") + setting(overlay, "GRACEFUL_TIMEOUT")
    assert spec["terminationGracePeriodSeconds"] >= budget, "D9: SIGKILL would cut the drain short"
    resources = app["resources"]
    assert resources["requests"]["cpu"]
    assert resources["limits"]["memory"]
    assert spec["automountServiceAccountToken"] is False
    zones = [
        c for c in spec["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"
    ]
    assert zones
    assert zones[0]["whenUnsatisfiable"] == "DoNotSchedule"
    service = one(overlay, "Service")
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"], "M1: the API port only"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize(("kind", "name"), [("Deployment", "orders-api"), ("Job", "orders-api-migrate")])
def test_pods_are_non_root_and_read_only(overlay: str, kind: str, name: str) -> None:
    spec = pod_spec(overlay, kind, name)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in spec["volumes"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_job_migrates_with_the_same_image_and_settings(overlay: str) -> None:
    job = pod_spec(overlay, "Job", "orders-api-migrate")["containers"][0]
    app = pod_spec(overlay, "Deployment", "orders-api")["containers"][0]
    assert job["command"] == ["python", "-m", "app", "migrate"]
    assert job["image"] == app["image"], "E3: the migration must run the image it migrates for"
    assert job["envFrom"] == app["envFrom"]
    assert job["env"] == app["env"]


def test_deployed_overlays_pin_a_placeholder_digest_and_dev_a_local_tag() -> None:
    for overlay in ("staging", "prod"):
        image = pod_spec(overlay, "Deployment", "orders-api")["containers"][0]["image"]
        assert image == f"orders-api@{PLACEHOLDER_DIGEST}", f"A1: overlays/{overlay} image {image}"
    assert pod_spec("dev", "Deployment", "orders-api")["containers"][0]["image"] == "orders-api:local"


def test_prometheus_rule_is_the_rule_files() -> None:
    expected: list[dict[str, Any]] = []
    for path in sorted(RULES.glob("*.yml")):
        expected.extend(yaml.safe_load(path.read_text())["groups"])
    for overlay in ("staging", "prod"):
        assert one(overlay, "PrometheusRule")["spec"]["groups"] == expected, (
            "M7: the PrometheusRule differs from ops/prometheus/rules/: run scripts/k8s-prometheus-rule.py"
        )


def test_pod_monitor_scrapes_the_metrics_port_as_job_orders_api() -> None:
    monitor = one("prod", "PodMonitor")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    relabels = {r["targetLabel"]: r for r in endpoint["relabelings"]}
    assert relabels["job"]["replacement"] == "orders-api"
    assert relabels["rollouts_pod_template_hash"]["sourceLabels"] == [
        "__meta_kubernetes_pod_label_rollouts_pod_template_hash"
    ]


def _alert_threshold(name: str) -> str:
    alerts = yaml.safe_load((RULES / "alerts.yml").read_text())
    rule = next(r for g in alerts["groups"] for r in g["rules"] if r.get("alert") == name)
    match = re.search(r"> (\S+)\n", rule["expr"])
    assert match, rule["expr"]
    return match.group(1)


def _recorded(name: str) -> str:
    slis = yaml.safe_load((RULES / "slis.yml").read_text())
    expr: str = next(r for g in slis["groups"] for r in g["rules"] if r.get("record") == name)["expr"]
    return re.sub(r"\s+", "", expr)


def test_canary_steps_and_analysis_match_the_alerts() -> None:
    rollout = one("prod", "Rollout")
    canary = rollout["spec"]["strategy"]["canary"]
    weights = [step["setWeight"] for step in canary["steps"] if "setWeight" in step]
    assert weights == [5, 25, 50, 100], "R2: the canary goes 5 -> 25 -> 50 -> 100 %"
    assert rollout["spec"]["workloadRef"]["name"] == "orders-api"
    assert one("prod", "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["kind"] == "Rollout"
    templates = {t["templateName"] for t in canary["analysis"]["templates"]}
    cases = {
        "orders-api-error-rate": (
            "HighErrorRate",
            ["job:http_server_request_errors:rate1m", "job:http_server_requests:rate1m"],
        ),
        "orders-api-p99-latency": ("HighP99Latency", ["job:http_server_request_duration_seconds:p99_rate1m"]),
    }
    assert templates == set(cases)
    guard = _recorded("job:http_server_requests:rate5m")
    for name, (alert, records) in cases.items():
        (metric,) = one("prod", "AnalysisTemplate", name)["spec"]["metrics"]
        assert metric["failureCondition"] == f"result[0] > {_alert_threshold(alert)}"
        query = re.sub(r"\s+", "", metric["provider"]["prometheus"]["query"].replace(CANARY_MATCHERS, ""))
        for record in records:
            assert _recorded(record) in query, f"R2: {name} does not compute {record} as slis.yml does"
        assert f"({guard}*60>=20)" in query, f"R2: {name} lacks the alerts' traffic guard"
