"""deploy/: the compose stack and the Kubernetes manifests, validated offline.

The validators are dev dependencies (pyproject.toml): check-jsonschema with its vendored
Compose Specification schema, kubectl's built-in kustomize, kubernetes-validate against
Kubernetes 1.30, yamllint. Each one is also shown a broken copy, so a validator that
passes everything fails here. Then what the schemas cannot see: the gateway's config
files load with its own loader, and the manifests keep the promises docs/deploy.md makes
(probes, replicas, the sandbox's privileges, Redis' AOF, who may reach whom)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import ENV_OVERRIDES, load_settings
from config.settings import Settings
from engines.llama_flags import FEATURES
from tests.deploy.tools import (
    DEPLOY,
    KUBERNETES,
    KUBERNETES_VERSION,
    NSJAIL_CAPABILITIES,
    assert_fails,
    assert_passes,
    run,
    tool,
)

COMPOSE = DEPLOY / "compose.yaml"
EXAMPLES = ("secret.example.yaml",)  # templates, not applied by the kustomization


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> list[Path]:
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def resources() -> dict[tuple[str, str], dict[str, Any]]:
    """Every Kubernetes object of deploy/kubernetes by (kind, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in manifests():
        for doc in documents(path):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def broken_copy(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert old in text
    target = tmp_path / source.name
    target.write_text(text.replace(old, new, 1))
    return target


# --- the validators ------------------------------------------------------------------


def test_compose_matches_the_compose_specification(tmp_path: Path) -> None:
    check = tool("check-jsonschema")
    assert_passes(run(check, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)))
    broken = broken_copy(tmp_path, COMPOSE, "    stop_grace_period:", "    stop_grace_periode:")
    assert_fails(
        run(check, "--builtin-schema", "vendor.compose-spec", str(broken)), "stop_grace_periode"
    )


def test_yamllint_is_clean(tmp_path: Path) -> None:
    yamllint = tool("yamllint")
    assert_passes(run(yamllint, "--strict", "deploy"))
    broken = broken_copy(tmp_path, COMPOSE, "name: atlas\n", "name: atlas   \n")
    assert_fails(run(yamllint, "--strict", "-c", ".yamllint.yaml", str(broken)), "trailing-spaces")


def test_each_manifest_file_validates_against_kubernetes() -> None:
    validate = tool("kubernetes-validate")
    files = [str(p) for p in manifests()]
    assert_passes(run(validate, "-k", KUBERNETES_VERSION, "--strict", "--quiet", *files))


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    """The kustomization rendered by kubectl's kustomize, secrets.env from its example."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, copy, ignore=shutil.ignore_patterns("secrets.env"))
    shutil.copy(copy / "secrets.env.example", copy / "secrets.env")
    result = run(tool("kubectl"), "kustomize", str(copy))
    assert_passes(result)
    out = tmp_path / "rendered.yaml"
    out.write_text(result.stdout)
    return out


def test_the_kustomization_renders_and_validates(rendered: Path, tmp_path: Path) -> None:
    validate = tool("kubernetes-validate")
    assert_passes(run(validate, "-k", KUBERNETES_VERSION, "--strict", "--quiet", str(rendered)))
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents(rendered)}
    assert ("Secret", "atlas-secrets") not in kinds  # generated, with a hash suffix
    assert any(k == "Secret" and n.startswith("atlas-secrets-") for k, n in kinds)
    assert {d["metadata"].get("namespace") for d in documents(rendered)} <= {"atlas", None}
    broken = broken_copy(tmp_path, rendered, "readOnlyRootFilesystem:", "readOnlyRootFs:")
    assert_fails(
        run(validate, "-k", KUBERNETES_VERSION, "--strict", "--quiet", str(broken)),
        "readOnlyRootFs",
    )


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(documents(KUBERNETES / "kustomization.yaml")[0]["resources"])
    present = {p.name for p in manifests()} - set(EXAMPLES)
    assert listed == present, f"unlisted: {present - listed}, missing: {listed - present}"


# --- the gateway's configuration -----------------------------------------------------


def configmap_toml() -> str:
    return str(resources()[("ConfigMap", "atlas-gateway-config")]["data"]["atlas.toml"])


def load(toml: str, env: Mapping[str, str], tmp_path: Path) -> Settings:
    path = tmp_path / "atlas.toml"
    path.write_text(toml)
    return load_settings(path, env=env)


def test_the_compose_config_loads(tmp_path: Path) -> None:
    env = env_file(DEPLOY / "secrets.env.example")
    settings = load((DEPLOY / "atlas.toml").read_text(), env, tmp_path)
    assert settings.redis.url == env["ATLAS_REDIS_URL"]
    assert settings.server.master_key == env["ATLAS_MASTER_KEY"]
    assert settings.accounts.require_configured_secrets


def test_the_configmap_config_loads(tmp_path: Path) -> None:
    env = env_file(KUBERNETES / "secrets.env.example")
    settings = load(configmap_toml(), env, tmp_path)
    assert settings.server.host == "0.0.0.0" and settings.sandbox.max_concurrency > 0
    assert "dns+http://coder.atlas.svc.cluster.local:8080" in configmap_toml()


def test_secrets_are_placeholders_with_the_names_the_gateway_reads() -> None:
    compose_env = env_file(DEPLOY / "secrets.env.example")
    kube_env = env_file(KUBERNETES / "secrets.env.example")
    secret = resources()[("Secret", "atlas-secrets")]["stringData"]
    assert kube_env == secret
    for env in (compose_env, kube_env):
        assert all(v.startswith("replace-me") or "replace-me" in v for v in env.values())
        atlas = {k for k in env if k.startswith("ATLAS_")}
        assert atlas <= set(ENV_OVERRIDES), atlas - set(ENV_OVERRIDES)
    used = {
        ref["secretKeyRef"]["key"]
        for doc in resources().values()
        for ref in walk(doc, "valueFrom")
        if "secretKeyRef" in ref
    }
    assert used <= set(kube_env), used - set(kube_env)


# --- what the manifests promise ------------------------------------------------------


def walk(node: Any, key: str) -> Iterator[Any]:
    """Every value stored under `key`, anywhere in `node`."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)


def container(doc: dict[str, Any]) -> dict[str, Any]:
    (only,) = doc["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_the_gateway_deployment(tmp_path: Path) -> None:
    found = resources()
    deployment = found[("Deployment", "atlas-gateway")]
    gateway = container(deployment)
    assert deployment["spec"]["replicas"] >= 2
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/health"
    assert {"cpu", "memory"} <= set(gateway["resources"]["requests"])
    assert {"cpu", "memory"} <= set(gateway["resources"]["limits"])
    hpa = found[("HorizontalPodAutoscaler", "atlas-gateway")]["spec"]
    assert hpa["minReplicas"] >= 2 and hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert found[("PodDisruptionBudget", "atlas-gateway")]["spec"]["minAvailable"] >= 1
    # SIGTERM's drain fits in the grace period, after preStop's sleep.
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    pre_stop = int(gateway["lifecycle"]["preStop"]["exec"]["command"][1])
    settings = load(configmap_toml(), env_file(KUBERNETES / "secrets.env.example"), tmp_path)
    assert pre_stop + settings.server.shutdown_grace_s + 1 < grace


def test_the_gateway_gets_exactly_what_nsjail_needs() -> None:
    context = container(resources()[("Deployment", "atlas-gateway")])["securityContext"]
    assert context["capabilities"]["drop"] == ["ALL"]
    assert set(context["capabilities"]["add"]) == NSJAIL_CAPABILITIES
    assert context["runAsUser"] == 0 and context["privileged"] is False
    assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"]
    assert context["seccompProfile"] == {"type": "Unconfined"}
    assert context["appArmorProfile"] == {"type": "Unconfined"}
    gateway = documents(COMPOSE)[0]["services"]["gateway"]
    assert gateway["user"] == "0:0" and gateway["cap_drop"] == ["ALL"]
    assert set(gateway["cap_add"]) == NSJAIL_CAPABILITIES
    assert {"seccomp=unconfined", "apparmor=unconfined", "no-new-privileges:true"} == set(
        gateway["security_opt"]
    )
    assert gateway["read_only"] is True and "privileged" not in gateway
    # Nothing else in deploy/ runs privileged or adds capabilities.
    for (kind, name), doc in resources().items():
        if (kind, name) != ("Deployment", "atlas-gateway"):
            assert not list(walk(doc, "add")), f"{kind}/{name} adds capabilities"
            assert True not in list(walk(doc, "privileged")), f"{kind}/{name} is privileged"


def flags(args: list[str], feature: str) -> list[str]:
    """The values given to `feature`'s flag, in any of llama-server's spellings."""
    spellings = FEATURES[feature][1]
    return [args[i + 1] if i + 1 < len(args) else "" for i, a in enumerate(args) if a in spellings]


def engines() -> Iterator[tuple[str, list[str]]]:
    """(name, llama-server argv) of every engine, compose and Kubernetes."""
    for name, service in documents(COMPOSE)[0]["services"].items():
        if name != "gateway" and name != "redis":
            yield f"compose:{name}", [str(a) for a in service["command"]]
    for (kind, name), doc in resources().items():
        if kind == "Deployment" and name != "atlas-gateway":
            yield f"kubernetes:{name}", [str(a) for a in container(doc)["args"]]


def test_engines_generate_with_a_draft_model_and_embed_with_mean_pooling() -> None:
    roles: dict[str, set[str]] = {"generation": set(), "embedding": set()}
    for where, args in engines():
        assert flags(args, "parallel") and flags(args, "port") == ["8080"], where
        if flags(args, "embeddings"):
            assert flags(args, "pooling") == ["mean"] and not flags(args, "draft_model"), where
            roles["embedding"].add(where.split(":")[0])
        else:
            assert flags(args, "draft_model") and flags(args, "draft_max"), where
            roles["generation"].add(where.split(":")[0])
    assert roles == {
        "generation": {"compose", "kubernetes"},
        "embedding": {"compose", "kubernetes"},
    }


def test_gpu_engines_behind_headless_services() -> None:
    found = resources()
    for (kind, name), doc in found.items():
        if kind == "Deployment" and name != "atlas-gateway":
            pod = doc["spec"]["template"]["spec"]
            resources_ = container(doc)["resources"]
            assert resources_["requests"]["nvidia.com/gpu"] == 1, name
            assert resources_["limits"]["nvidia.com/gpu"] == 1, name
            assert pod["nodeSelector"], name
            service = found[("Service", name)]["spec"]
            assert service["clusterIP"] == "None", name
            assert service["selector"] == doc["spec"]["selector"]["matchLabels"], name


def test_slots_match_the_gateway_s_max_in_flight(tmp_path: Path) -> None:
    """Each upstream's max_in_flight is its engine's --parallel."""
    parallel = {where: int(flags(args, "parallel")[0]) for where, args in engines()}
    compose_env = env_file(DEPLOY / "secrets.env.example")
    compose = load((DEPLOY / "atlas.toml").read_text(), compose_env, tmp_path).models[0]
    kube_env = env_file(KUBERNETES / "secrets.env.example")
    kube = load(configmap_toml(), kube_env, tmp_path).models[0]
    for model, prefix, names in (
        (compose, "compose", ("coder", "coder-embed")),
        (kube, "kubernetes", ("coder", "coder-embed")),
    ):
        generation, embedding = model.generation_upstreams(), model.embedding_upstream_settings()
        assert generation[0].max_in_flight == parallel[f"{prefix}:{names[0]}"]
        assert embedding[0].max_in_flight == parallel[f"{prefix}:{names[1]}"]


def test_redis_keeps_an_append_only_file_on_a_volume() -> None:
    redis = documents(COMPOSE)[0]["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    assert any(v.endswith(":/data") for v in redis["volumes"])
    statefulset = resources()[("StatefulSet", "redis")]
    args = " ".join(container(statefulset)["args"])
    assert "--appendonly yes" in args and "--appendfsync everysec" in args
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"


def test_only_the_gateway_reaches_redis_and_the_engines() -> None:
    policies = [doc for (kind, _), doc in resources().items() if kind == "NetworkPolicy"]
    guarded: set[str] = set()
    for policy in policies:
        target = policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        if target == "gateway":
            continue
        guarded.add(target)
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        sources = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
        assert sources == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "gateway"}}}
        ]
    assert guarded == {"redis", "engine"}
    labelled = {
        doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for (kind, _), doc in resources().items()
        if kind in ("Deployment", "StatefulSet")
    }
    assert labelled == {"gateway", "redis", "engine"}
