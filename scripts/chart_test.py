#!/usr/bin/env python3
"""Validate the workflow-platform Helm chart and the image build without a cluster or Docker.

Run through scripts/chart-test.sh, which provides the virtualenv (scripts/requirements-chart.txt):
  - helm-python-sdk: Helm v4 as a library (render, lint, values.schema.json) - no helm binary;
  - kubernetes-validate: the Kubernetes OpenAPI schemas, used here for Kubernetes 1.30;
  - cel-python: CEL, the admission policy's expression language;
  - dockerfile: BuildKit's own Dockerfile parser, for docker/Dockerfile.

What it proves, for the default values and for ci/everything-values.yaml:
  - Helm's lint passes and the chart renders with the real Helm engine (which also validates
    the values against values.schema.json);
  - every rendered manifest (and the CRD) is valid against the Kubernetes 1.30 schemas (strict:
    no unknown fields); ServiceMonitor, a Prometheus Operator CRD kind the schemas do not hold,
    is checked structurally instead;
  - every enabled service has its Deployment (`fleet serve --target <svc>`, probes, security
    context, resources, /tmp), Service, ServiceAccount, NetworkPolicy (evaluated: who may reach
    which port), PodDisruptionBudget, HPA and ServiceMonitor when enabled, and its migration
    hook Job (`fleet migrate --target <svc>`) that uses only hooks of lower weight or Secrets;
  - nothing rendered holds a credential, and leaving out a required Secret name fails the render
    with a message that names the value to set;
  - tenant-provisioning's ClusterRole is narrowed by a ValidatingAdmissionPolicy to namespaces
    labelled as tenants': its CEL is evaluated (cel-python) on sample requests, and with the
    policy disabled none is rendered and NOTES.txt warns;
  - the Tenant CRD, the helm test Pod, the Kong ConfigMaps (one source: deploy/kong/), and the
    Dockerfile's structure.
It prints the manifest count per kind for the default values and ends with "N passed, N failed";
it exits non-zero on any failure.

Usage: chart_test.py [--sync | --check] [--out DIR]
  --sync   copy deploy/kong/kong.yaml and deploy/kong/plugins/*/*.lua into the chart first
           (the default, except when CI=true)
  --check  only compare them, failing when the chart's copies are stale (the default in CI)
  --out    also write the rendered manifests there
"""

from __future__ import annotations

import argparse
import collections
import copy
import filecmp
import functools
import json
import os
import re
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Iterable

import yaml

try:
    import celpy
    import helm_python as helm
    import importlib_resources
    import jsonschema
    import kubernetes_validate
    from referencing import Registry, Resource
except ImportError as exc:  # pragma: no cover - environment problem
    sys.exit(f"chart_test.py: {exc}; run it through scripts/chart-test.sh, which installs "
             "scripts/requirements-chart.txt into its virtualenv")

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "workflow-platform"
EVERYTHING = CHART / "ci" / "everything-values.yaml"
KONG_SRC = ROOT / "deploy" / "kong" / "kong.yaml"
KONG_COPY = CHART / "files" / "kong.yaml"
PLUGINS_SRC = ROOT / "deploy" / "kong" / "plugins"
PLUGINS_COPY = CHART / "files" / "kong-plugins"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

KUBE_VERSION = "1.30.0"
RELEASE = "wp"
NAMESPACE = "platform"
CHART_NAME = "workflow-platform"

# The fleet (ARCHITECTURE.md §3): --target name -> (database, topics it publishes, local HTTP port)
SERVICES: dict[str, tuple[str, list[str], int]] = {
    "org-auth": ("org_auth", ["auth_events", "org_events", "revocation_events"], 8100),
    "human-agent": ("human_agent", ["agent_events"], 8101),
    "research": ("research", ["research_events"], 8102),
    "demo": ("demo", ["demo_events"], 8103),
    "nda": ("nda", ["nda_events"], 8104),
    "pricing": ("pricing", ["pricing_events"], 8105),
    "proposal": ("proposal", ["proposal_events"], 8106),
    "prd": ("prd", ["prd_events"], 8107),
    "orchestration": ("orchestration", ["conversation_events"], 8108),
    "voice": ("voice", ["voice_events"], 8109),
    "config": ("config", ["config_events"], 8110),
    "monitoring": ("monitoring", ["monitoring_events"], 8111),
    "analytics": ("analytics", ["analytics_events"], 8112),
    "support": ("support", ["support_events"], 8113),
    "crm": ("crm", ["crm_events"], 8114),
    "manufacturer-catalog": ("catalog", ["catalog_events"], 8115),
    "tenant-provisioning": ("tenants", ["tenant_events"], 8116),
    "feedback": ("feedback", ["feedback_events"], 8117),
}

FLEET_ENV = {
    "FLEET_BIND_HOST": "0.0.0.0",
    "FLEET_HTTP_PORT": "8080",
    "FLEET_GRPC_PORT": "9090",
}
SHARED_CONFIG_KEYS = {"FLEET_ENV", "FLEET_KAFKA_BOOTSTRAP", "FLEET_JWT_ISSUER", "FLEET_JWT_AUDIENCE",
                      "FLEET_JWT_JWKS_URL", "RUST_LOG", "FLEET_DB_POOL_MAX"}
SECRET_ENV = {"DATABASE_URL", "FLEET_REDIS_URL"}

PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
URL_USERINFO = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/@:\"'<>]*:[^\s/@\"'<>]+@")
# A password assignment, unless its value is a Kong vault reference (resolved at run time).
PASSWORD_ASSIGN = re.compile(r"(?i)passw(?:or)?d[\"']?\s*[:=](?!\s*['\"]?\{vault://)")
SENSITIVE_NAME = re.compile(r"(?i)(passw(or)?d|secret|token|api[_-]?key|private[_-]?key|credential)")


# --------------------------------------------------------------------------------------------
# results


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []
        self.section = ""

    def begin(self, title: str) -> None:
        self.section = title
        print(f"\n== {title}")

    def check(self, cond: Any, what: str, detail: str = "") -> bool:
        if cond:
            self.passed += 1
            return True
        msg = f"[{self.section}] {what}" + (f": {detail}" if detail else "")
        self.failed.append(msg)
        print(f"  FAIL {what}" + (f": {detail}" if detail else ""))
        return False

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"  ok   {what}")

    def all(self, items: Iterable[tuple[Any, str]], summary: str) -> bool:
        """Many small checks reported as one line when they all pass."""
        good = True
        for cond, what in items:
            good = self.check(cond, what) and good
        if good:
            print(f"  ok   {summary}")
        return good


R = Results()


# --------------------------------------------------------------------------------------------
# Kong: one source (deploy/kong/), copies inside the chart


def plugin_sources() -> dict[str, dict[str, Path]]:
    """deploy/kong/plugins/<plugin>/*.lua (top level only: a ConfigMap holds no folders)."""
    found: dict[str, dict[str, Path]] = {}
    if PLUGINS_SRC.is_dir():
        for d in sorted(p for p in PLUGINS_SRC.iterdir() if p.is_dir()):
            files = {f.name: f for f in sorted(d.glob("*.lua")) if f.is_file()}
            if files:
                found[d.name] = files
    return found


def plugin_copies() -> dict[str, dict[str, Path]]:
    found: dict[str, dict[str, Path]] = {}
    if PLUGINS_COPY.is_dir():
        for d in sorted(p for p in PLUGINS_COPY.iterdir() if p.is_dir()):
            found[d.name] = {f.name: f for f in sorted(d.glob("*.lua")) if f.is_file()}
    return found


def sync_kong() -> None:
    if KONG_SRC.is_file():
        if not KONG_COPY.is_file() or not filecmp.cmp(KONG_SRC, KONG_COPY, shallow=False):
            KONG_COPY.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(KONG_SRC, KONG_COPY)
            print(f"  synced {KONG_SRC.relative_to(ROOT)} -> {KONG_COPY.relative_to(ROOT)}")
    src = plugin_sources()
    if PLUGINS_SRC.is_dir():
        for name, files in src.items():
            dest = PLUGINS_COPY / name
            dest.mkdir(parents=True, exist_ok=True)
            for fname, path in files.items():
                target = dest / fname
                if not target.is_file() or not filecmp.cmp(path, target, shallow=False):
                    shutil.copyfile(path, target)
                    print(f"  synced {path.relative_to(ROOT)} -> {target.relative_to(ROOT)}")
            for stale in dest.glob("*.lua"):
                if stale.name not in files:
                    stale.unlink()
                    print(f"  removed stale {stale.relative_to(ROOT)}")
        for name in plugin_copies():
            if name not in src:
                shutil.rmtree(PLUGINS_COPY / name)
                print(f"  removed stale {(PLUGINS_COPY / name).relative_to(ROOT)}")


def check_kong_sources() -> None:
    R.begin("Kong configuration: deploy/kong/ is the one source, the chart holds copies")
    hint = "run scripts/chart-test.sh (make chart) outside CI to copy it, and commit the copy"
    if KONG_SRC.is_file():
        if R.check(KONG_COPY.is_file() and filecmp.cmp(KONG_SRC, KONG_COPY, shallow=False),
                   f"{KONG_COPY.relative_to(ROOT)} is identical to {KONG_SRC.relative_to(ROOT)}",
                   f"the chart's copy is stale or missing; {hint}"):
            print(f"  ok   {KONG_COPY.relative_to(ROOT)} == {KONG_SRC.relative_to(ROOT)}")
    else:
        R.check(KONG_COPY.is_file(), f"{KONG_COPY.relative_to(ROOT)} exists")
        print(f"  note {KONG_SRC.relative_to(ROOT)} does not exist yet: the chart renders its "
              f"placeholder {KONG_COPY.relative_to(ROOT)} (it is replaced once the source exists)")
    src, dst = plugin_sources(), plugin_copies()
    if PLUGINS_SRC.is_dir():
        R.check(sorted(src) == sorted(dst), "the chart holds exactly the plugins of deploy/kong/plugins",
                f"source {sorted(src)}, chart {sorted(dst)}; {hint}")
        for name, files in src.items():
            have = dst.get(name, {})
            same = sorted(files) == sorted(have) and all(
                filecmp.cmp(files[f], have[f], shallow=False) for f in files)
            R.check(same, f"plugin {name}: files/kong-plugins/{name}/*.lua identical to the source", hint)
        if src and sorted(src) == sorted(dst):
            print(f"  ok   plugins {', '.join(src)} identical to deploy/kong/plugins")


# --------------------------------------------------------------------------------------------
# Kubernetes schema validation (kubernetes-validate's schemas, cached)


class KubeSchemas:
    def __init__(self, version: str) -> None:
        base = importlib_resources.files("kubernetes_validate") / "kubernetes-json-schema"
        self.dir = Path(str(base / f"v{version}-local-strict"))
        if not self.dir.is_dir():
            raise SystemExit(f"kubernetes-validate {kubernetes_validate.__version__} has no schemas "
                             f"for Kubernetes {version}")
        defs = json.loads((self.dir / "_definitions.json").read_text())
        self.registry = Resource.from_contents(defs) @ Registry()

    @functools.lru_cache(maxsize=None)
    def validator(self, kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
        group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        path = self.dir / f"{kind.lower()}-{group_version}.json"
        if not path.is_file():
            return None
        schema = json.loads(path.read_text())
        registry = Resource.from_contents(schema) @ self.registry
        return jsonschema.validators.Draft202012Validator(schema, registry=registry)

    def errors(self, doc: dict) -> list[str] | None:
        """None when no schema for the kind exists; else the list of errors (empty: valid)."""
        v = self.validator(doc["kind"], doc["apiVersion"])
        if v is None:
            return None
        out = []
        for e in sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
            path = ".".join(str(p) for p in e.absolute_path) or "(root)"
            out.append(f"{path}: {e.message[:300]}")
        return out


# --------------------------------------------------------------------------------------------
# rendering


class Render:
    """One `helm template`: the manifests by kind/name, hooks and tests apart."""

    def __init__(self, label: str, files: dict[str, str]) -> None:
        self.label = label
        self.files = files
        self.notes = ""
        self.docs: list[dict] = []
        self.source: dict[int, str] = {}
        for path, text in files.items():
            if path.endswith("NOTES.txt"):
                self.notes = text
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    self.source[id(doc)] = path
                    self.docs.append(doc)

    def of(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d.get("kind") == kind]

    def get(self, kind: str, name: str) -> dict | None:
        for d in self.docs:
            if d.get("kind") == kind and d["metadata"]["name"] == name:
                return d
        return None

    @staticmethod
    def hook(doc: dict) -> str | None:
        return (doc.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook")

    def counts(self) -> collections.Counter:
        return collections.Counter(d["kind"] for d in self.docs)


def load_chart() -> helm.Chart:
    return helm.Chart.load(str(CHART))


def render(chart: helm.Chart, values: dict | None, label: str) -> Render | None:
    try:
        files = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as exc:
        R.check(False, f"render ({label})", str(exc).strip())
        return None
    R.ok(f"rendered with {label}: {sum(1 for _ in Render(label, files).docs)} manifests")
    return Render(label, files)


def render_error(chart: helm.Chart, values: dict) -> str | None:
    try:
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as exc:
        return str(exc).strip()
    return None


def deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def effective_values(chart: helm.Chart, values: dict) -> dict:
    return chart.merge_values(values)


# --------------------------------------------------------------------------------------------
# label selectors and NetworkPolicy evaluation


def selector_matches(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, vals = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and labels.get(key) in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def np_allows(np: dict, pod: dict, port: str, container_ports: dict[str, int]) -> bool:
    """Does NetworkPolicy `np` admit a connection from `pod` to the named port?
    pod = {"labels": ..., "namespace": ..., "nsLabels": ...}"""
    spec = np["spec"]
    if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
        return True
    for rule in spec.get("ingress") or []:
        ports = rule.get("ports")
        if ports:
            def port_ok(p: dict) -> bool:
                want = p.get("port")
                return want == port or (isinstance(want, int) and container_ports.get(port) == want)
            if not any(port_ok(p) for p in ports):
                continue
        peers = rule.get("from")
        if not peers:
            return True
        for peer in peers:
            ps, ns = peer.get("podSelector"), peer.get("namespaceSelector")
            if ns is None:
                in_ns = pod["namespace"] == np["metadata"].get("namespace", NAMESPACE)
            else:
                in_ns = selector_matches(ns, pod["nsLabels"])
            if in_ns and (ps is None or selector_matches(ps, pod["labels"])):
                return True
    return False


# --------------------------------------------------------------------------------------------
# the checks


def check_lint(values: dict, label: str) -> None:
    report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBE_VERSION}",
                       namespace=NAMESPACE)
    bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    R.check(not report.get("errors") and not bad, f"helm lint --strict ({label})",
            "; ".join([*(report.get("errors") or []), *(f"{m['path']}: {m['error']}" for m in bad)]))
    if not report.get("errors") and not bad:
        infos = [m["error"] for m in report.get("messages", [])]
        print(f"  ok   helm lint --strict ({label})" + (f" [info: {'; '.join(infos)}]" if infos else ""))


def check_schemas(r: Render, kube: KubeSchemas) -> None:
    unknown = collections.Counter()
    bad = 0
    for doc in r.docs:
        errs = kube.errors(doc)
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if errs is None:
            if doc["kind"] == "ServiceMonitor":
                check_servicemonitor(r, doc)
            else:
                unknown[doc["kind"]] += 1
                R.check(False, f"{name}: no Kubernetes {KUBE_VERSION} schema for {doc['apiVersion']} "
                        f"{doc['kind']} and no structural check")
            continue
        if not R.check(not errs, f"{name} valid against the Kubernetes {KUBE_VERSION} schema (strict)",
                       "; ".join(errs[:5])):
            bad += 1
    n_sm = len(r.of("ServiceMonitor"))
    print(f"  ok   {len(r.docs) - n_sm - bad - sum(unknown.values())} manifests valid against the "
          f"Kubernetes {KUBE_VERSION} schemas (strict)" if not bad else
          f"  --   {bad} manifests invalid")
    if n_sm:
        print(f"  note {n_sm} ServiceMonitors (monitoring.coreos.com/v1, a Prometheus Operator CRD the "
              f"Kubernetes schemas do not hold) were checked structurally instead")


def check_servicemonitor(r: Render, sm: dict) -> None:
    name = sm["metadata"]["name"]
    spec = sm.get("spec") or {}
    svc = r.get("Service", name)
    eps = spec.get("endpoints") or []
    dur = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
    R.all([
        (sm.get("apiVersion") == "monitoring.coreos.com/v1", f"ServiceMonitor/{name}: apiVersion monitoring.coreos.com/v1"),
        (set(sm) <= {"apiVersion", "kind", "metadata", "spec"}, f"ServiceMonitor/{name}: only apiVersion, kind, metadata, spec"),
        (svc is not None, f"ServiceMonitor/{name}: a Service of the same name exists"),
        (svc is not None and selector_matches(spec.get("selector"), svc["metadata"].get("labels", {})),
         f"ServiceMonitor/{name}: selector matches the Service's labels"),
        (NAMESPACE in ((spec.get("namespaceSelector") or {}).get("matchNames") or [NAMESPACE]),
         f"ServiceMonitor/{name}: namespaceSelector covers the release namespace"),
        (len(eps) == 1, f"ServiceMonitor/{name}: one endpoint"),
        (all(e.get("port") == "metrics" and e.get("path") == "/metrics" for e in eps),
         f"ServiceMonitor/{name}: scrapes /metrics on the metrics port"),
        (svc is not None and all(any(p["name"] == e.get("port") for p in svc["spec"]["ports"]) for e in eps),
         f"ServiceMonitor/{name}: the endpoint port is a port of the Service"),
        (all(dur.match(str(e.get(k, "0"))) for e in eps for k in ("interval", "scrapeTimeout")),
         f"ServiceMonitor/{name}: interval and scrapeTimeout are Prometheus durations"),
        (all(set(e) <= {"port", "path", "scheme", "interval", "scrapeTimeout", "honorLabels",
                        "relabelings", "metricRelabelings"} for e in eps),
         f"ServiceMonitor/{name}: endpoint fields known to monitoring.coreos.com/v1"),
    ], f"ServiceMonitor/{name}: structure (apiVersion, selector, port metrics, /metrics, durations)")


def check_redis_acl(r: Render, values: dict) -> None:
    """One Redis user per enabled service, limited to its own key prefix; Kong's to its counters."""
    if not values["redisAcl"]["enabled"]:
        return
    prefix = values.get("fullnameOverride") or RELEASE
    cm = r.get("ConfigMap", f"{prefix}-redis-acl")
    lines = [l.strip() for l in ((cm or {}).get("data") or {}).get("users.acl", "").splitlines() if l.strip()]
    users = {l.split()[1]: l for l in lines if l.startswith("user ")}
    digests = values["redisAcl"]["passwordDigests"]
    enabled = [s for s, v in values["services"].items() if v.get("enabled")]
    checks = [(cm is not None, "ConfigMap redis-acl")]
    for svc in enabled:
        l = users.get(svc, "")
        patterns = [w for w in l.split() if w.startswith("~")]
        checks += [
            (patterns == [f"~{svc}:*"], f"redis ACL user {svc}: keys ~{svc}:* only"),
            (" reset " in l and "+@dangerous" not in l and "-@dangerous" in l, f"redis ACL user {svc}: reset, no dangerous commands"),
            ((f"on #{digests[svc]}" in l) if svc in digests else (" off " in l), f"redis ACL user {svc}: {'on with its digest' if svc in digests else 'off without a digest'}"),
        ]
    kong = users.get("kong", "")
    checks.append(([w for w in kong.split() if w.startswith("~")] == ["~ratelimit:*"], "redis ACL user kong: ~ratelimit:* only"))
    checks.append((set(users) == set(enabled) | {"kong"}, "redis ACL: a user per enabled service and kong, nothing else"))
    R.all(checks, "Redis ACL users: one per service, each on its own key prefix")


def container_env(c: dict) -> dict[str, dict]:
    return {e["name"]: e for e in c.get("env") or []}


def check_security(kind_name: str, pod_spec: dict, c: dict) -> list[tuple[Any, str]]:
    psc = pod_spec.get("securityContext") or {}
    csc = c.get("securityContext") or {}
    caps = (csc.get("capabilities") or {}).get("drop") or []
    return [
        (psc.get("runAsNonRoot") is True, f"{kind_name}: pod runAsNonRoot"),
        ((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", f"{kind_name}: pod seccompProfile RuntimeDefault"),
        (csc.get("runAsNonRoot") is True, f"{kind_name}: container runAsNonRoot"),
        (csc.get("readOnlyRootFilesystem") is True, f"{kind_name}: readOnlyRootFilesystem"),
        (csc.get("allowPrivilegeEscalation") is False, f"{kind_name}: allowPrivilegeEscalation false"),
        ("ALL" in caps, f"{kind_name}: capabilities drop ALL"),
        (not (csc.get("capabilities") or {}).get("add"), f"{kind_name}: no added capabilities"),
        ((csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
         f"{kind_name}: container seccompProfile RuntimeDefault"),
        (not csc.get("privileged"), f"{kind_name}: not privileged"),
        (isinstance((psc.get("runAsUser") or csc.get("runAsUser") or 0), int)
         and (csc.get("runAsUser") or psc.get("runAsUser") or 0) != 0, f"{kind_name}: a non-zero runAsUser"),
    ]


def check_resources(kind_name: str, c: dict) -> list[tuple[Any, str]]:
    res = c.get("resources") or {}
    return [
        ({"cpu", "memory"} <= set(res.get("requests") or {}), f"{kind_name}: cpu and memory requests"),
        ({"cpu", "memory"} <= set(res.get("limits") or {}), f"{kind_name}: cpu and memory limits"),
    ]


def check_services(r: Render, values: dict) -> None:
    """Everything each enabled service must have; nothing for a disabled one."""
    services = values["services"]
    enabled = [s for s, v in services.items() if v.get("enabled")]
    disabled = [s for s in services if s not in enabled]
    nps = {d["metadata"]["name"]: d for d in r.of("NetworkPolicy")}
    deployments = {d["metadata"]["name"]: d for d in r.of("Deployment")}
    jobs = {d["metadata"]["name"]: d for d in r.of("Job")}
    release_prefix = values.get("fullnameOverride") or RELEASE
    sm_on = values["serviceMonitor"]["enabled"]

    R.check(sorted(services) == sorted(SERVICES), "values.yaml has one block per service of the fleet",
            f"got {sorted(services)}")
    for svc in enabled:
        n = f"{release_prefix}-{svc}"
        sv = deep_merge_defaults(values, svc)
        checks: list[tuple[Any, str]] = []
        dep = deployments.get(n)
        checks.append((dep is not None, f"Deployment {n}"))
        if dep:
            spec = dep["spec"]
            pod = spec["template"]["spec"]
            cs = pod["containers"]
            c = cs[0]
            env = container_env(c)
            checks += [
                (len(cs) == 1, f"Deployment {n}: one container"),
                (c.get("command") == ["fleet"] and c.get("args") == ["serve", "--target", svc],
                 f"Deployment {n}: runs `fleet serve --target {svc}`"),
                (selector_matches(spec["selector"], spec["template"]["metadata"]["labels"]),
                 f"Deployment {n}: selector matches its pod labels"),
                ({p["name"]: p["containerPort"] for p in c.get("ports", [])} == {"http": 8080, "grpc": 9090, "metrics": 9091},
                 f"Deployment {n}: ports http 8080, grpc 9090 and metrics 9091"),
                (all(env.get(k, {}).get("value") == v for k, v in FLEET_ENV.items()),
                 f"Deployment {n}: FLEET_BIND_HOST/HTTP_PORT/GRPC_PORT"),
                (((c.get("livenessProbe") or {}).get("httpGet") or {}).get("path") == "/healthz/live"
                 and c["livenessProbe"]["httpGet"]["port"] in ("http", 8080), f"Deployment {n}: liveness probe GET /healthz/live on http"),
                (((c.get("readinessProbe") or {}).get("httpGet") or {}).get("path") == "/healthz/ready"
                 and c["readinessProbe"]["httpGet"]["port"] in ("http", 8080), f"Deployment {n}: readiness probe GET /healthz/ready on http"),
                (any(m["mountPath"] == "/tmp" for m in c.get("volumeMounts", []))
                 and any(v["name"] == next((m["name"] for m in c["volumeMounts"] if m["mountPath"] == "/tmp"), None)
                         and "emptyDir" in v for v in pod.get("volumes", [])),
                 f"Deployment {n}: an emptyDir at /tmp"),
                (pod.get("serviceAccountName") == n, f"Deployment {n}: uses its own ServiceAccount"),
                (all("secretKeyRef" in (env.get(k, {}).get("valueFrom") or {}) for k in SECRET_ENV),
                 f"Deployment {n}: DATABASE_URL and FLEET_REDIS_URL from Secrets"),
                (env.get("FLEET_INTERNAL_CREDENTIAL_FILE", {}).get("value", "").startswith(
                    next((m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] == "internal-credential"), "?"))
                 and (next((v for v in pod.get("volumes", []) if v["name"] == "internal-credential"), {})
                      .get("secret") or {}).get("secretName", "").endswith(f"-{svc}"),
                 f"Deployment {n}: FLEET_INTERNAL_CREDENTIAL_FILE points into its own credential Secret"),
                ("FLEET_INTERNAL_TOKEN_FILE" not in env and "FLEET_INTERNAL_TOKEN" not in env,
                 f"Deployment {n}: no shared internal token"),
                (env.get("FLEET_INTERNAL_CALLERS_DIR", {}).get("value")
                 == next((m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] == "internal-callers"), "?")
                 and (next((v for v in pod.get("volumes", []) if v["name"] == "internal-callers"), {})
                      .get("configMap") or {}).get("name") == f"{release_prefix}-internal-callers"
                 and r.get("ConfigMap", f"{release_prefix}-internal-callers") is not None,
                 f"Deployment {n}: FLEET_INTERNAL_CALLERS_DIR is the callers' digests ConfigMap"),
                (env.get("FLEET_EDGE_KEY_FILE", {}).get("value", "").startswith(
                    next((m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] == "edge-key"), "?")),
                 f"Deployment {n}: FLEET_EDGE_KEY_FILE points into the mounted edge key Secret"),
                (env.get("FLEET_METRICS_PORT", {}).get("value") == "9091", f"Deployment {n}: FLEET_METRICS_PORT 9091"),
                (not values["secrets"]["redis"].get("perService")
                 or ((env.get("FLEET_REDIS_URL", {}).get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
                 == f"{values['secrets']['redis']['perServicePrefix']}-{svc}",
                 f"Deployment {n}: FLEET_REDIS_URL of its own Redis user"),
                ("MIGRATE_DATABASE_URL" not in env, f"Deployment {n}: no owner-role database URL"),
            ]
            cm_refs = [e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e]
            checks.append((all(r.get("ConfigMap", cm) for cm in cm_refs) and len(cm_refs) == 2,
                           f"Deployment {n}: reads the shared and its own ConfigMap"))
            shared = r.get("ConfigMap", f"{release_prefix}-fleet-env")
            checks.append((shared is not None and SHARED_CONFIG_KEYS <= set(shared.get("data", {})),
                           f"Deployment {n}: shared ConfigMap holds {', '.join(sorted(SHARED_CONFIG_KEYS))}"))
            signer = bool(sv.get("mountJwtSigningKey"))
            key_file = env.get("FLEET_JWT_SIGNING_KEY_FILE", {}).get("value")
            mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
            vols = {v["name"]: v for v in pod.get("volumes", [])}
            if signer:
                checks += [
                    (key_file and "jwt-signing-key" in mounts and key_file.startswith(mounts["jwt-signing-key"]["mountPath"])
                     and mounts["jwt-signing-key"].get("readOnly") is True and "secret" in vols.get("jwt-signing-key", {}),
                     f"Deployment {n}: FLEET_JWT_SIGNING_KEY_FILE in a read-only Secret volume"),
                ]
            else:
                checks.append((key_file is None and "jwt-signing-key" not in mounts,
                               f"Deployment {n}: no JWT signing key"))
            for e in sv.get("extraSecretEnv") or []:
                ref = (env.get(e["name"], {}).get("valueFrom") or {}).get("secretKeyRef") or {}
                checks.append((ref.get("name") == e["existingSecret"] and ref.get("key") == e["key"],
                               f"Deployment {n}: {e['name']} from Secret {e['existingSecret']}"))
            autoscaling = sv["autoscaling"]["enabled"]
            if autoscaling:
                checks.append(("replicas" not in spec, f"Deployment {n}: replicas left to the HPA"))
            else:
                checks.append((spec.get("replicas") == sv["replicas"], f"Deployment {n}: replicas {sv['replicas']}"))
            checks += check_security(f"Deployment {n}", pod, c)
            checks += check_resources(f"Deployment {n}", c)
            checks.append((((spec["template"]["metadata"].get("annotations") or {})
                            .get("platform.workflow.dev/publishes", "")).split(",") == SERVICES[svc][1],
                           f"Deployment {n}: publishes {SERVICES[svc][1]}"))

        # Service
        s = r.get("Service", n)
        checks.append((s is not None, f"Service {n}"))
        if s and dep:
            ports = {p["name"]: (p["port"], p["targetPort"]) for p in s["spec"]["ports"]}
            checks += [
                (ports == {"http": (8080, "http"), "grpc": (9090, "grpc"), "metrics": (9091, "metrics")},
                 f"Service {n}: http 8080, grpc 9090, metrics 9091"),
                (selector_matches({"matchLabels": s["spec"]["selector"]}, dep["spec"]["template"]["metadata"]["labels"]),
                 f"Service {n}: selects the Deployment's pods"),
            ]
            job = jobs.get(f"{n}-migrate")
            if job:
                checks.append((not selector_matches({"matchLabels": s["spec"]["selector"]},
                                                    job["spec"]["template"]["metadata"]["labels"]),
                               f"Service {n}: does not select the migration pods"))
        checks.append((r.get("ServiceAccount", n) is not None, f"ServiceAccount {n}"))

        # PDB
        if sv["podDisruptionBudget"]["enabled"]:
            pdb = r.get("PodDisruptionBudget", n)
            checks.append((pdb is not None, f"PodDisruptionBudget {n}"))
            if pdb and dep:
                checks.append((selector_matches(pdb["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"]),
                               f"PodDisruptionBudget {n}: selects the Deployment's pods"))

        # HPA
        hpa = r.get("HorizontalPodAutoscaler", n)
        if sv["autoscaling"]["enabled"]:
            checks.append((hpa is not None and hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": n}
                           and hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] and hpa["spec"].get("metrics"),
                           f"HorizontalPodAutoscaler {n} targets Deployment {n}"))
        else:
            checks.append((hpa is None, f"no HorizontalPodAutoscaler {n} (autoscaling off)"))

        # ServiceMonitor
        sm = r.get("ServiceMonitor", n)
        checks.append(((sm is not None) == bool(sm_on), f"ServiceMonitor {n} {'present' if sm_on else 'absent'}"))

        # NetworkPolicy: evaluated
        np = nps.get(n)
        checks.append((np is not None, f"NetworkPolicy {n}"))
        if np and dep:
            np["metadata"].setdefault("namespace", NAMESPACE)
            pod_labels = dep["spec"]["template"]["metadata"]["labels"]
            cports = {"http": 8080, "grpc": 9090, "metrics": 9091}
            checks.append((selector_matches(np["spec"]["podSelector"], pod_labels), f"NetworkPolicy {n}: selects the service's pods"))
            ns_labels = {"kubernetes.io/metadata.name": NAMESPACE}
            kong_ns = values["kong"]["namespaceSelector"]
            kong_pod = {
                "labels": dict((values["kong"]["podSelector"] or {}).get("matchLabels") or {}),
                "namespace": (kong_ns.get("matchLabels") or {}).get("kubernetes.io/metadata.name", "kong") if kong_ns else NAMESPACE,
                "nsLabels": dict(kong_ns.get("matchLabels") or {}) if kong_ns else ns_labels,
            }
            peer = {"labels": deployments[next(iter(deployments))]["spec"]["template"]["metadata"]["labels"],
                    "namespace": NAMESPACE, "nsLabels": ns_labels}
            tester = next((d for d in r.of("Pod") if r.hook(d) == "test"), None)
            mon_cfg = values["networkPolicy"]["monitoring"]
            prom = {"labels": dict((mon_cfg.get("podSelector") or {}).get("matchLabels") or {}) or {"app": "prometheus"},
                    "namespace": "monitoring", "nsLabels": dict((mon_cfg["namespaceSelector"] or {}).get("matchLabels") or {})}
            stranger = {"labels": {"app": "stranger"}, "namespace": NAMESPACE, "nsLabels": ns_labels}
            other_ns = {"labels": peer["labels"], "namespace": "elsewhere", "nsLabels": {"kubernetes.io/metadata.name": "elsewhere"}}
            migrate_pod = {"labels": next(iter(jobs.values()))["spec"]["template"]["metadata"]["labels"] if jobs else {},
                           "namespace": NAMESPACE, "nsLabels": ns_labels}
            checks += [
                (np_allows(np, kong_pod, "http", cports), f"NetworkPolicy {n}: Kong → http allowed"),
                (not np_allows(np, kong_pod, "grpc", cports), f"NetworkPolicy {n}: Kong → grpc denied"),
                (np_allows(np, peer, "grpc", cports), f"NetworkPolicy {n}: fleet pods → grpc allowed"),
                (not np_allows(np, peer, "http", cports) and not np_allows(np, peer, "metrics", cports),
                 f"NetworkPolicy {n}: fleet pods → http and metrics denied"),
                (not np_allows(np, kong_pod, "metrics", cports), f"NetworkPolicy {n}: Kong → metrics denied"),
                (tester is None or np_allows(np, {"labels": tester["metadata"]["labels"], "namespace": NAMESPACE, "nsLabels": ns_labels},
                                             "http", cports), f"NetworkPolicy {n}: the helm test Pod → http allowed"),
                (not np_allows(np, stranger, "http", cports) and not np_allows(np, stranger, "grpc", cports),
                 f"NetworkPolicy {n}: other pods of the namespace denied"),
                (not np_allows(np, other_ns, "grpc", cports), f"NetworkPolicy {n}: look-alike pods of other namespaces denied"),
                (not jobs or not np_allows(np, migrate_pod, "grpc", cports), f"NetworkPolicy {n}: migration pods are not fleet peers"),
                (np_allows(np, prom, "metrics", cports) == bool(mon_cfg["enabled"]),
                 f"NetworkPolicy {n}: monitoring namespace → metrics {'allowed' if mon_cfg['enabled'] else 'denied'}"),
                (not np_allows(np, prom, "http", cports), f"NetworkPolicy {n}: monitoring → http (the API) denied"),
                (not np_allows(np, prom, "grpc", cports), f"NetworkPolicy {n}: monitoring → grpc denied"),
            ]

        # migration Job
        if sv["migration"]["enabled"]:
            job = jobs.get(f"{n}-migrate")
            checks.append((job is not None, f"Job {n}-migrate"))
            if job:
                checks += check_migration_job(r, job, svc, sv)
        R.all(checks, f"{svc}: Deployment, Service, ServiceAccount, NetworkPolicy, PDB"
              + (", HPA" if sv["autoscaling"]["enabled"] else "") + (", ServiceMonitor" if sm_on else "")
              + ", migration hook Job; probes, security context, resources, /tmp")

    for svc in disabled:
        n = f"{release_prefix}-{svc}"
        left = [f"{d['kind']}/{d['metadata']['name']}" for d in r.docs
                if d["metadata"]["name"] in (n, f"{n}-migrate", f"{n}-env")]
        R.check(not left, f"disabled service {svc} renders nothing", ", ".join(left))
    if disabled:
        print(f"  ok   disabled services render nothing: {', '.join(disabled)}")


def deep_merge_defaults(values: dict, svc: str) -> dict:
    """The chart's rule: a key of the service block replaces the default as a whole."""
    eff = copy.deepcopy(values.get("defaults") or {})
    eff.update(copy.deepcopy(values["services"][svc]))
    return eff


def check_migration_job(r: Render, job: dict, svc: str, sv: dict) -> list[tuple[Any, str]]:
    n = job["metadata"]["name"]
    ann = job["metadata"].get("annotations") or {}
    pod = job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    env = container_env(c)
    weight = int(ann.get("helm.sh/hook-weight", "0"))
    events = set((ann.get("helm.sh/hook") or "").split(","))
    out: list[tuple[Any, str]] = [
        (events == {"pre-install", "pre-upgrade"}, f"Job {n}: helm.sh/hook pre-install,pre-upgrade"),
        (set(ann.get("helm.sh/hook-delete-policy", "").split(",")) == {"before-hook-creation", "hook-succeeded"},
         f"Job {n}: hook-delete-policy before-hook-creation,hook-succeeded"),
        (c.get("command") == ["fleet"] and c.get("args") == ["migrate", "--target", svc],
         f"Job {n}: runs `fleet migrate --target {svc}`"),
        (pod.get("restartPolicy") in ("Never", "OnFailure"), f"Job {n}: restartPolicy Never/OnFailure"),
        ("secretKeyRef" in (env.get("MIGRATE_DATABASE_URL", {}).get("valueFrom") or {}),
         f"Job {n}: MIGRATE_DATABASE_URL from a Secret"),
        (env.get("FLEET_DB_APP_ROLE", {}).get("value") == sv["database"]["appRole"],
         f"Job {n}: FLEET_DB_APP_ROLE = {sv['database']['appRole']}"),
        ("DATABASE_URL" not in env, f"Job {n}: no app-role DATABASE_URL"),
        (any(m["mountPath"] == "/tmp" for m in c.get("volumeMounts", [])), f"Job {n}: /tmp emptyDir"),
    ]
    out += check_security(f"Job {n}", pod, c)
    out += check_resources(f"Job {n}", c)
    # Hook ordering: what the Job uses must be a hook of lower weight on the same events, or a
    # Secret that exists before the release (the chart renders none).
    sa = pod.get("serviceAccountName")
    if sa:
        sa_doc = r.get("ServiceAccount", sa)
        sa_ann = (sa_doc or {}).get("metadata", {}).get("annotations") or {}
        out.append((sa_doc is not None and events <= set((sa_ann.get("helm.sh/hook") or "").split(","))
                    and int(sa_ann.get("helm.sh/hook-weight", "0")) < weight,
                    f"Job {n}: its ServiceAccount {sa} is a pre-install/pre-upgrade hook of lower weight"))
    cms = [e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e]
    cms += [e["valueFrom"]["configMapKeyRef"]["name"] for e in c.get("env", []) if "configMapKeyRef" in (e.get("valueFrom") or {})]
    cms += [v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v]
    for cm in cms:
        cm_doc = r.get("ConfigMap", cm)
        cm_ann = (cm_doc or {}).get("metadata", {}).get("annotations") or {}
        out.append((cm_doc is not None and events <= set((cm_ann.get("helm.sh/hook") or "").split(","))
                    and int(cm_ann.get("helm.sh/hook-weight", "0")) < weight,
                    f"Job {n}: ConfigMap {cm} is a hook of lower weight"))
    secrets = [e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", []) if "secretKeyRef" in (e.get("valueFrom") or {})]
    secrets += [e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e]
    for s in secrets:
        out.append((r.get("Secret", s) is None, f"Job {n}: Secret {s} is pre-existing, not a release resource"))
    return out


def check_hooks_and_tests(r: Render, values: dict) -> None:
    enabled = [s for s, v in values["services"].items() if v.get("enabled")]
    prefix = values.get("fullnameOverride") or RELEASE
    hooks = [d for d in r.docs if r.hook(d)]
    allowed = {"pre-install,pre-upgrade": {"Job", "ServiceAccount"}, "test": {"Pod"}}
    R.all([(d["kind"] in allowed.get(r.hook(d), set()), f"hook {d['kind']}/{d['metadata']['name']} ({r.hook(d)})")
           for d in hooks], f"hooks are only the migration Jobs + their ServiceAccount and the test Pod ({len(hooks)})")
    tests = [d for d in r.of("Pod") if r.hook(d) == "test"]
    if not R.check(len(tests) == 1, "one helm test Pod"):
        return
    t = tests[0]
    c = t["spec"]["containers"][0]
    script = " ".join(c.get("command", []) + c.get("args", []))
    urls = set(re.findall(r"http://[^\s\"']+/healthz/ready", script))
    want = {f"http://{prefix}-{s}.{NAMESPACE}.svc.{values['clusterDomain']}:8080/healthz/ready" for s in enabled}
    checks = [
        (urls == want, "the test Pod GETs /healthz/ready of exactly the enabled services"),
        (t["spec"].get("restartPolicy") == "Never", "the test Pod does not restart"),
        ("exit" in script, "the test Pod exits non-zero when a service is not ready"),
    ]
    checks += check_security(f"Pod {t['metadata']['name']}", t["spec"], c)
    checks += check_resources(f"Pod {t['metadata']['name']}", c)
    R.all(checks, f"helm test Pod calls /healthz/ready of the {len(enabled)} enabled services")


def check_no_credentials(r: Render) -> None:
    checks: list[tuple[Any, str]] = []
    checks.append((not r.of("Secret"), "the chart renders no Secret (credentials are references only)"))
    for path, text in r.files.items():
        checks += [
            (not PEM_PRIVATE.search(text), f"{path}: no PEM private key"),
            (not URL_USERINFO.search(text), f"{path}: no URL with user:password@"
             + (f" ({URL_USERINFO.search(text).group(0)[:40]}...)" if URL_USERINFO.search(text) else "")),
            (not PASSWORD_ASSIGN.search(text), f"{path}: no password: / password= assignment"),
        ]
    for doc in r.of("ConfigMap") + r.of("Secret"):
        for k, v in ((doc.get("data") or {}) | (doc.get("stringData") or {})).items():
            checks.append((not (SENSITIVE_NAME.search(k) and not k.upper().endswith(("_FILE", "_KID")) and v),
                           f"{doc['kind']}/{doc['metadata']['name']}: key {k} is not a literal credential"))
            try:
                parsed = yaml.safe_load(v) if isinstance(v, str) and "\n" in v else None
            except yaml.YAMLError:
                parsed = None
            for key_path, val in walk_sensitive(parsed):
                checks.append((False, f"{doc['kind']}/{doc['metadata']['name']}[{k}]: {key_path} holds a literal "
                                      f"credential (use a Kong vault reference such as {{vault://env/...}})"))
    for doc in r.docs:
        for pod in pod_specs(doc):
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                for e in c.get("env") or []:
                    if "value" in e and SENSITIVE_NAME.search(e["name"]) and not e["name"].endswith(("_FILE", "_KID")):
                        checks.append((False, f"{doc['kind']}/{doc['metadata']['name']}: env {e['name']} holds a literal value"))
                    if e["name"] in SECRET_ENV | {"MIGRATE_DATABASE_URL"}:
                        checks.append(("value" not in e, f"{doc['kind']}/{doc['metadata']['name']}: {e['name']} is a Secret reference"))
    for doc in r.of("ConfigMap"):
        size = sum(len(str(v).encode()) for v in (doc.get("data") or {}).values())
        checks.append((size < 1024 * 1024 - 4096, f"ConfigMap/{doc['metadata']['name']}: {size} bytes, under the 1 MiB limit"))
    R.all(checks, "no Secret rendered; no password, PEM private key or user:pass@ URL in any rendered file; "
                  "ConfigMaps under 1 MiB")


def walk_sensitive(node: Any, path: str = "") -> Iterable[tuple[str, Any]]:
    """Keys named like a credential with a literal value, in a parsed YAML document (kong.yml).
    Allowed: vault references ({vault://...}), booleans, and the `secret` of a Kong jwt_secrets
    entry with an asymmetric algorithm (RS/ES/PS: Kong verifies with the public key and never
    uses it)."""
    if isinstance(node, dict):
        asymmetric = str(node.get("algorithm", "")).upper().startswith(("RS", "ES", "PS"))
        for k, v in node.items():
            p = f"{path}.{k}" if path else str(k)
            if (isinstance(k, str) and SENSITIVE_NAME.search(k) and isinstance(v, (str, int))
                    and not isinstance(v, bool) and str(v)
                    and not str(v).startswith("{vault://") and not k.lower().endswith(("_file", "header"))
                    and not (asymmetric and k == "secret")):
                yield p, v
            yield from walk_sensitive(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_sensitive(v, f"{path}[{i}]")


def pod_specs(doc: dict) -> list[dict]:
    kind = doc.get("kind")
    if kind == "Pod":
        return [doc["spec"]]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return [doc["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def check_required(chart: helm.Chart, base: dict) -> None:
    cases: list[tuple[str, dict, str]] = [
        ("secrets.redis.existingSecret (one Redis user for all)",
         {"secrets": {"redis": {"existingSecret": "", "perService": False}}},
         "secrets.redis.existingSecret is required"),
        ("secrets.redis.perServicePrefix", {"secrets": {"redis": {"perServicePrefix": ""}}},
         "secrets.redis.perServicePrefix is required"),
        ("secrets.internalCredential.existingSecretPrefix",
         {"secrets": {"internalCredential": {"existingSecretPrefix": ""}}},
         "secrets.internalCredential.existingSecretPrefix is required"),
        ("secrets.edgeKey.existingSecret", {"secrets": {"edgeKey": {"existingSecret": ""}}},
         "secrets.edgeKey.existingSecret is required"),
        ("secrets.jwtSigningKey.existingSecret", {"secrets": {"jwtSigningKey": {"existingSecret": ""}}},
         "secrets.jwtSigningKey.existingSecret is required"),
        ("services.org-auth.database.existingSecret", {"services": {"org-auth": {"database": {"existingSecret": ""}}}},
         "services.org-auth.database.existingSecret is required"),
        ("services.voice.database.existingSecret (the migration Job alone)",
         {"services": {"voice": {"database": {"existingSecret": ""}}}},
         "services.voice.database.existingSecret"),
        ("services.crm.database.appRole", {"services": {"crm": {"database": {"appRole": ""}}}},
         "services.crm.database.appRole is required"),
        ("an extraSecretEnv entry without existingSecret",
         {"services": {"org-auth": {"extraSecretEnv": [{"name": "SMTP_URL", "existingSecret": "", "key": "smtp-url"}]}}},
         "services.org-auth.extraSecretEnv[SMTP_URL].existingSecret is required"),
        ("config.kafkaBootstrap", {"config": {"kafkaBootstrap": ""}}, "config.kafkaBootstrap is required"),
    ]
    for what, override, expect in cases:
        err = render_error(chart, deep_merge(base, override))
        R.check(err is not None and expect in err, f"rendering without {what} fails with a clear message",
                f"expected an error containing {expect!r}, got {err!r}")
        if err and expect in err:
            print(f"  ok   without {what}: {err.splitlines()[-1][:150]}")
    # Only what is needed is required: without org-auth nothing needs the JWT signing key.
    no_signer = deep_merge(base, {"services": {"org-auth": {"enabled": False}},
                                  "secrets": {"jwtSigningKey": {"existingSecret": ""}}})
    err = render_error(chart, no_signer)
    R.check(err is None, "the JWT signing key is required only while org-auth is enabled", str(err))
    # The schema rejects what it does not know.
    schema_cases = [
        ("an unknown service", {"services": {"billing": {"enabled": True}}}),
        ("a misspelt top-level key", {"serviceMonitors": {"enabled": True}}),
        ("replicas as a string", {"services": {"nda": {"replicas": "two"}}}),
        ("an invalid pullPolicy", {"image": {"pullPolicy": "Sometimes"}}),
        ("a lower-case env name", {"services": {"crm": {"env": {"not-an-env": "x"}}}}),
        ("an extraSecretEnv entry without key", {"services": {"crm": {"extraSecretEnv": [{"name": "X", "existingSecret": "s"}]}}}),
    ]
    for what, override in schema_cases:
        err = render_error(chart, deep_merge(base, override))
        R.check(err is not None and "schema" in err, f"values.schema.json rejects {what}", repr(err))
    print(f"  ok   values.schema.json rejects: {', '.join(w for w, _ in schema_cases)}")


def check_kong_configmap(r: Render, values: dict) -> None:
    key = values["kong"]["config"]["key"]
    prefix = values.get("fullnameOverride") or RELEASE
    cm = r.get("ConfigMap", f"{prefix}-kong-config")
    if not R.check(cm is not None and key in (cm.get("data") or {}), f"ConfigMap {prefix}-kong-config with key {key}"):
        return
    content = cm["data"][key]
    try:
        parsed = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        parsed = None
        R.check(False, "the Kong ConfigMap holds YAML", str(exc))
    checks = [
        (isinstance(parsed, dict) and "_format_version" in parsed, "the Kong ConfigMap is a Kong declarative config (_format_version)"),
    ]
    source = KONG_COPY.read_text()
    expected = source
    if values["kong"]["config"]["rewriteLocalUpstreams"]:
        for svc, (_, _, port) in SERVICES.items():
            target = f"http://{prefix}-{svc}.{NAMESPACE}.svc.{values['clusterDomain']}:8080"
            for old in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://{svc}:8080"):
                expected = expected.replace(old, target)
        checks.append((not re.search(r"https?://(127\.0\.0\.1|localhost)(:\d+)?", content),
                       "no loopback upstream left in the Kong ConfigMap"))
    for rep in values["kong"]["config"]["replacements"]:
        expected = expected.replace(rep["from"], rep["to"])
    keys = values["kong"]["config"].get("jwtPublicKeys") or []
    if keys:
        want = yaml.safe_load(expected)
        issuer = [c for c in want.get("consumers") or [] if c.get("username") == values["kong"]["config"]["jwtConsumer"]]
        for c in issuer:
            c["jwt_secrets"] = [{"key": k["kid"], "algorithm": "RS256", "secret": "unused-with-rs256",
                                 "rsa_public_key": k["publicKey"]} for k in keys]
        checks.append((len(issuer) == 1, "kong.yaml has the jwtConsumer whose keys are replaced"))
        checks.append((parsed == want, "the Kong ConfigMap is files/kong.yaml with the upstream rewrites and "
                                       "the configured JWT public keys"))
    else:
        checks.append((content.rstrip("\n") == expected.rstrip("\n"),
                       "the Kong ConfigMap is files/kong.yaml with only the upstream rewrites applied"))
    if values["kong"]["plugins"]["enabled"]:
        for name, files in plugin_copies().items():
            pcm = r.get("ConfigMap", f"{prefix}-kong-plugin-{name}")
            checks.append((pcm is not None and {k: v for k, v in (pcm.get("data") or {}).items()}
                           == {f: p.read_text() for f, p in files.items()},
                           f"ConfigMap {prefix}-kong-plugin-{name} holds the plugin's Lua modules"))
    R.all(checks, f"Kong: ConfigMap {prefix}-kong-config" + (
        f" and plugin ConfigMaps ({', '.join(plugin_copies())})" if plugin_copies() and values["kong"]["plugins"]["enabled"] else ""))


def check_crds(chart: helm.Chart, kube: KubeSchemas) -> list[dict]:
    R.begin("CRDs (crds/): the Tenant custom resource")
    crds = [yaml.safe_load(c["data"]) for c in chart.crds]
    R.check(len(crds) >= 1, "the chart ships CRDs")
    tenant = next((c for c in crds if c["spec"]["names"]["kind"] == "Tenant"), None)
    if not R.check(tenant is not None, "a Tenant CRD"):
        return crds
    for c in crds:
        errs = kube.errors(c)
        R.check(errs == [], f"CRD {c['metadata']['name']} valid against the Kubernetes {KUBE_VERSION} schema", "; ".join(errs or ["no schema"]))
    spec = tenant["spec"]
    version = next((v for v in spec["versions"] if v["name"] == "v1alpha1"), None)
    cols = {col["name"]: col for col in (version or {}).get("additionalPrinterColumns", [])}
    schema = ((version or {}).get("schema") or {}).get("openAPIV3Schema") or {}
    props = schema.get("properties", {})
    sprops = props.get("spec", {}).get("properties", {})
    stprops = props.get("status", {}).get("properties", {})
    R.all([
        (tenant["metadata"]["name"] == "tenants.platform.workflow.dev", "named tenants.platform.workflow.dev"),
        (spec["group"] == "platform.workflow.dev", "group platform.workflow.dev"),
        (spec["scope"] == "Cluster", "cluster-scoped"),
        (version is not None and version.get("served") and version.get("storage"), "v1alpha1 served and stored"),
        ("status" in ((version or {}).get("subresources") or {}), "status subresource"),
        ({"organizationId", "tier", "quotas"} <= set(sprops), "spec: organizationId, tier, quotas"),
        (sprops.get("tier", {}).get("enum") == [1, 2, 3], "spec.tier is 1, 2 or 3"),
        ({"phase", "conditions", "namespace"} <= set(stprops), "status: phase, conditions, namespace"),
        (cols.get("Phase", {}).get("jsonPath") == ".status.phase", "printer column Phase (.status.phase)"),
        (cols.get("Age", {}).get("type") == "date" and cols["Age"].get("jsonPath") == ".metadata.creationTimestamp",
         "printer column Age (creationTimestamp)"),
    ], "Tenant: cluster-scoped platform.workflow.dev/v1alpha1; spec organizationId/tier/quotas; status phase/conditions/namespace; columns Phase, Age")
    # Objects against the CRD's own schema (structural OpenAPI v3; jsonschema draft 4 semantics).
    validator = jsonschema.Draft4Validator(schema)
    good = {"apiVersion": "platform.workflow.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": "acme"},
            "spec": {"organizationId": "0190f1a2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", "tier": 2,
                     "quotas": {"cpu": "4", "memory": "8Gi", "pods": 50, "storage": "100Gi"}},
            "status": {"phase": "Active", "namespace": "tenant-acme", "conditions": [
                {"type": "Ready", "status": "True", "reason": "Provisioned", "message": "ok",
                 "lastTransitionTime": "2026-11-01T10:00:00Z"}]}}
    bad_tier = copy.deepcopy(good)
    bad_tier["spec"]["tier"] = 4
    bad_phase = copy.deepcopy(good)
    bad_phase["status"]["phase"] = "Happy"
    no_org = copy.deepcopy(good)
    del no_org["spec"]["organizationId"]
    R.all([
        (not list(validator.iter_errors(good)), "a tier-2 Tenant with quotas and status is valid"),
        (list(validator.iter_errors(bad_tier)), "tier 4 is rejected"),
        (list(validator.iter_errors(bad_phase)), "an unknown phase is rejected"),
        (list(validator.iter_errors(no_org)), "a Tenant without organizationId is rejected"),
    ], "Tenant objects checked against the CRD's schema (valid one accepted, tier 4 / bad phase / no organizationId rejected)")
    return crds


def check_notes(r: Render, values: dict) -> None:
    prefix = values.get("fullnameOverride") or RELEASE
    enabled = [s for s, v in values["services"].items() if v.get("enabled")]
    R.all([(f"{prefix}-{s}.{NAMESPACE}.svc" in r.notes, f"NOTES.txt names {s}") for s in enabled]
          + [("helm test" in r.notes, "NOTES.txt tells how to run helm test"),
             ("kubectl get tenants" in r.notes, "NOTES.txt mentions kubectl get tenants")],
          "NOTES.txt lists every enabled service and how to reach it")


# --------------------------------------------------------------------------------------------
# tenant-provisioning's cluster RBAC, narrowed to tenant namespaces by a ValidatingAdmissionPolicy

WRITES = {"create", "update", "patch", "delete", "deletecollection", "*"}
# RBAC verb -> the admission operation it arrives as.
VERB_OPERATION = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE",
                  "deletecollection": "DELETE"}


def rule_matches(rule: dict, group: str, resource: str, operation: str) -> bool:
    return (("*" in rule["apiGroups"] or group in rule["apiGroups"])
            and ("*" in rule["resources"] or resource in rule["resources"])
            and ("*" in rule["operations"] or operation in rule["operations"]))


def cel(expr: str, activation: dict) -> Any:
    """Evaluates one CEL expression; an error is returned (the caller decides what it means)."""
    env = celpy.Environment()
    try:
        return env.program(env.compile(expr)).evaluate(activation)
    except (celpy.CELParseError, celpy.CELEvalError) as exc:
        return exc


def admit(policy: dict, req: dict) -> tuple[bool, str | None]:
    """What the API server decides with this ValidatingAdmissionPolicy (bound with Deny) for
    one write: (policy applies, the refusal's message or None when admitted). A false
    expression or one that fails to evaluate refuses (failurePolicy Fail)."""
    spec = policy["spec"]
    group, resource, operation = req["group"], req["resource"], req["operation"]
    if not any(rule_matches(r, group, resource, operation) for r in spec["matchConstraints"]["resourceRules"]):
        return False, None
    fail_closed = spec.get("failurePolicy", "Fail") == "Fail"
    act = {
        "request": celpy.json_to_cel({
            "operation": operation, "namespace": req.get("namespace", ""),
            "userInfo": {"username": req["user"]},
            "resource": {"group": group, "version": "v1", "resource": resource}}),
        "object": celpy.json_to_cel(req.get("object")),
        "oldObject": celpy.json_to_cel(req.get("oldObject")),
        "namespaceObject": celpy.json_to_cel(req.get("namespaceObject")),
    }
    for mc in spec.get("matchConditions") or []:
        got = cel(mc["expression"], act)
        if isinstance(got, Exception):
            return True, f"matchCondition {mc['name']}: {got}" if fail_closed else None
        if got is not True and got != celpy.celtypes.BoolType(True):
            return False, None
    variables = {}
    for v in spec.get("variables") or []:
        variables[celpy.celtypes.StringType(v["name"])] = cel(v["expression"], act)
    act["variables"] = celpy.celtypes.MapType(variables)
    for v in spec["validations"]:
        got = cel(v["expression"], act)
        if isinstance(got, Exception) or got != celpy.celtypes.BoolType(True):
            if isinstance(got, Exception) and not fail_closed:
                continue
            return True, v.get("message") or v["expression"]
    return True, None


def check_tenant_rbac(r: Render, values: dict) -> None:
    prefix = values.get("fullnameOverride") or RELEASE
    enabled = values["services"]["tenant-provisioning"]["enabled"]
    role = r.get("ClusterRole", f"{NAMESPACE}-{prefix}-tenant-provisioning")
    name = f"{NAMESPACE}-{prefix}-tenant-namespaces"
    policy, binding = r.get("ValidatingAdmissionPolicy", name), r.get("ValidatingAdmissionPolicyBinding", name)
    if not enabled:
        R.check(role is None and policy is None and binding is None,
                "no ClusterRole and no admission policy for a disabled tenant-provisioning")
        return
    if not R.check(role is not None and any("tenants" in rule.get("resources", []) for rule in role["rules"]),
                   "tenant-provisioning may manage Tenants (ClusterRole)"):
        return
    if not values["tenantNamespaces"]["admissionPolicy"]["enabled"]:
        R.all([(policy is None and binding is None and not r.of("ValidatingAdmissionPolicy"),
                "no ValidatingAdmissionPolicy with tenantNamespaces.admissionPolicy disabled"),
               ("WARNING: tenantNamespaces.admissionPolicy.enabled is false" in r.notes,
                "NOTES.txt warns that the ClusterRole then reaches every namespace")],
              "admission policy disabled: none rendered, and NOTES.txt warns of the ClusterRole's reach")
        return
    if not R.check(policy is not None and binding is not None,
                   f"ValidatingAdmissionPolicy and binding {name} for tenant-provisioning"):
        return
    R.all([
        (binding["spec"].get("policyName") == name, "the binding names the policy"),
        (binding["spec"].get("validationActions") == ["Deny"], "the binding denies (validationActions [Deny])"),
        ("paramRef" not in binding["spec"] and "matchResources" not in binding["spec"],
         "the binding narrows nothing (the policy's own constraints apply)"),
        (policy["spec"].get("failurePolicy") == "Fail", "the policy fails closed"),
    ], "the policy is bound with Deny and fails closed")

    # Every write the ClusterRole grants, outside the platform's own (cluster-scoped) Tenants,
    # is one the policy sees.
    uncovered = []
    for rule in role["rules"]:
        verbs = set(rule.get("verbs", [])) & WRITES
        for group in rule.get("apiGroups", []):
            if group == "platform.workflow.dev":
                continue
            for resource in rule.get("resources", []):
                ops = {VERB_OPERATION.get(v, "*") for v in verbs}
                ops = {"CREATE", "UPDATE", "DELETE"} if "*" in ops else ops
                for op in ops:
                    if not any(rule_matches(m, group, resource, op)
                               for m in policy["spec"]["matchConstraints"]["resourceRules"]):
                        uncovered.append(f"{op} {group or 'core'}/{resource}")
    R.check(not uncovered, "the policy sees every write the ClusterRole grants outside Tenants",
            ", ".join(uncovered))

    # The decision itself, on sample requests (the policy's CEL evaluated as the API server does).
    account = f"system:serviceaccount:{NAMESPACE}:{prefix}-tenant-provisioning"
    label = values["tenantNamespaces"]["label"]

    def ns(n: str, tenant: bool, **extra: str) -> dict:
        labels = {"kubernetes.io/metadata.name": n, **extra}
        if tenant:
            labels[label] = n
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}}

    def netpol(n: str) -> dict:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "tenant-isolation", "namespace": n}, "spec": {"podSelector": {}}}

    def write(user: str, op: str, group: str, resource: str, obj: dict | None = None,
              old: dict | None = None, in_ns: dict | None = None) -> dict:
        return {"user": user, "operation": op, "group": group, "resource": resource, "object": obj,
                "oldObject": old, "namespaceObject": in_ns,
                "namespace": in_ns["metadata"]["name"] if in_ns else ""}

    acme, system, release = ns("tenant-acme", True), ns("kube-system", False), ns(NAMESPACE, False)
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {}}
    cases = [
        ("creates a tenant namespace", write(account, "CREATE", "", "namespaces", acme), True),
        ("changes a tenant namespace that keeps the label",
         write(account, "UPDATE", "", "namespaces", ns("tenant-acme", True, tier="3"), acme), True),
        ("deletes a tenant namespace", write(account, "DELETE", "", "namespaces", None, acme), True),
        ("writes a NetworkPolicy in a tenant namespace",
         write(account, "CREATE", "networking.k8s.io", "networkpolicies", netpol("tenant-acme"), None, acme), True),
        ("deletes a NetworkPolicy in a tenant namespace",
         write(account, "DELETE", "networking.k8s.io", "networkpolicies", None, netpol("tenant-acme"), acme), True),
        ("writes a quota in a tenant namespace",
         write(account, "CREATE", "", "resourcequotas", quota, None, acme), True),
        ("creates an unlabelled namespace", write(account, "CREATE", "", "namespaces", ns("sneaky", False)), False),
        ("deletes kube-system", write(account, "DELETE", "", "namespaces", None, system), False),
        ("deletes the release's own namespace", write(account, "DELETE", "", "namespaces", None, release), False),
        ("adopts a namespace by labelling it",
         write(account, "UPDATE", "", "namespaces", ns(NAMESPACE, True), release), False),
        ("releases a tenant namespace by removing the label",
         write(account, "UPDATE", "", "namespaces", ns("tenant-acme", False), acme), False),
        ("deletes a NetworkPolicy of the release's namespace",
         write(account, "DELETE", "networking.k8s.io", "networkpolicies", None, netpol(NAMESPACE), release), False),
        ("writes a NetworkPolicy in kube-system",
         write(account, "CREATE", "networking.k8s.io", "networkpolicies", netpol("kube-system"), None, system), False),
        ("replaces a NetworkPolicy in kube-system",
         write(account, "UPDATE", "networking.k8s.io", "networkpolicies", netpol("kube-system"),
               netpol("kube-system"), system), False),
        ("writes a limit range in the release's namespace",
         write(account, "CREATE", "", "limitranges", {"metadata": {"name": "l"}}, None, release), False),
        ("writes in a namespace it cannot see", write(account, "CREATE", "", "resourcequotas", quota), False),
    ]
    checks = []
    for what, req, allowed in cases:
        applies, refusal = admit(policy, req)
        ok = applies and (refusal is None) == allowed
        checks.append((ok, f"tenant-provisioning {what}: {'admitted' if allowed else 'refused'}"
                       + ("" if ok else f" (applies={applies}, refusal={refusal})")))
        if ok and not allowed:
            checks.append((label in (refusal or ""), f"the refusal of '{what}' names the label {label}"))
    others = [
        ("a cluster admin deletes kube-system", write("kubernetes-admin", "DELETE", "", "namespaces", None, system)),
        ("another fleet service account deletes a namespace",
         write(f"system:serviceaccount:{NAMESPACE}:{prefix}-org-auth", "DELETE", "", "namespaces", None, system)),
        ("tenant-provisioning of another release namespace",
         write(f"system:serviceaccount:other:{prefix}-tenant-provisioning", "DELETE", "", "namespaces", None, system)),
    ]
    for what, req in others:
        applies, _ = admit(policy, req)
        checks.append((not applies, f"the policy leaves alone: {what}"))
    R.all(checks, f"evaluated on {len(cases) + len(others)} requests: tenant-provisioning writes only "
          f"namespaces labelled {label} and what is inside them")


def check_dockerfile() -> None:
    R.begin("docker/Dockerfile (parsed with BuildKit's parser; no Docker engine here)")
    try:
        import dockerfile  # type: ignore
    except ImportError:
        R.check(False, "the dockerfile package is installed")
        return
    if not R.check(DOCKERFILE.is_file(), "docker/Dockerfile exists"):
        return
    cmds = dockerfile.parse_file(str(DOCKERFILE))
    stages: list[dict] = []
    for c in cmds:
        if c.cmd == "FROM":
            v = list(c.value)
            stages.append({"image": v[0], "name": v[2] if len(v) >= 3 and v[1].upper() == "AS" else None, "cmds": []})
        elif stages:
            stages[-1]["cmds"].append(c)
    if not R.check(len(stages) >= 2, "multi-stage build", f"{len(stages)} stage(s)"):
        return
    final = stages[-1]
    builders = stages[:-1]
    runs = [c for s in builders for c in s["cmds"] if c.cmd == "RUN"]
    run_text = "\n".join(" ".join(c.flags) + " " + " ".join(c.value) for c in runs)
    final_runs = "\n".join(" ".join(c.value) for c in final["cmds"] if c.cmd == "RUN")
    copies = [c for c in final["cmds"] if c.cmd == "COPY"]
    users = [" ".join(c.value) for c in final["cmds"] if c.cmd == "USER"]
    entry = [c for c in final["cmds"] if c.cmd == "ENTRYPOINT"]
    builder_names = {s["name"] for s in builders if s["name"]}
    chart_uid = yaml.safe_load((CHART / "values.yaml").read_text())["containerSecurityContext"]["runAsUser"]
    R.all([
        (any(s["image"].startswith("rust:1-bookworm") for s in builders), "a rust:1-bookworm builder stage"),
        (re.search(r"cargo build\b[^\n]*--release", run_text) and re.search(r"-p\s+fleet\b|--package\s+fleet\b", run_text),
         "cargo build --release -p fleet"),
        ("type=cache" in run_text or "cargo chef cook" in run_text or "cargo-chef" in run_text,
         "dependency caching (BuildKit cache mounts or cargo-chef)"),
        (all(re.search(rf"\b{re.escape(t)}\b", run_text) for t in ("gcc", "make", "perl", "python3")),
         "installs gcc, make, perl, python3 (librdkafka, aws-lc)"),
        (not re.search(r"\b(cmake|protobuf-compiler|protoc)\b", run_text), "needs neither cmake nor protoc"),
        (final["image"].startswith(("debian:bookworm-slim", "gcr.io/distroless/cc")), f"runtime image {final['image']}"),
        ("ca-certificates" in final_runs or final["image"].startswith("gcr.io/distroless"), "runtime has ca-certificates"),
        (len(copies) == 1 and any(f.startswith("--from=") and f.split("=", 1)[1] in builder_names for f in copies[0].flags)
         and copies[0].value[-1] == "/usr/local/bin/fleet" and len(copies[0].value) == 2,
         "the runtime copies only the fleet binary to /usr/local/bin/fleet"),
        (users and users[-1].split(":")[0] == str(chart_uid), f"runs as uid {chart_uid} (the chart's runAsUser)"),
        (re.search(rf"\b{chart_uid}\b", final_runs), f"creates the non-root user {chart_uid}"),
        (entry and entry[-1].json and list(entry[-1].value) == ["fleet"], 'ENTRYPOINT ["fleet"]'),
    ], "docker/Dockerfile: multi-stage rust:1-bookworm → debian:bookworm-slim, cached deps, "
       "cargo build --release -p fleet, only /usr/local/bin/fleet, uid 10001, ENTRYPOINT [\"fleet\"]")
    if DOCKERIGNORE.is_file():
        ignored = DOCKERIGNORE.read_text().split()
        R.check(any(p.strip("/").endswith("target") for p in ignored), ".dockerignore keeps target/ out of the context")


def print_counts(r: Render, crds: list[dict]) -> None:
    counts = r.counts()
    for c in crds:
        counts[c["kind"] + " (crds/)"] += 1
    hooks = collections.Counter(f"{d['kind']} (hook: {r.hook(d)})" for d in r.docs if r.hook(d))
    print(f"\nManifests for the default values (release {RELEASE}, namespace {NAMESPACE}):")
    width = max(len(k) for k in counts)
    for kind, n in sorted(counts.items()):
        print(f"  {kind:<{width}}  {n:>3}")
    print(f"  {'total':<{width}}  {sum(counts.values()):>3}")
    for h, n in sorted(hooks.items()):
        print(f"    of which {h}: {n}")


def write_out(out: Path, r: Render) -> None:
    d = out / r.label.replace(" ", "-").replace("/", "_")
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "manifests.yaml", "w") as f:
        for path, text in sorted(r.files.items()):
            if not path.endswith("NOTES.txt"):
                f.write(f"---\n# Source: {path}\n{text}\n")
    (d / "NOTES.txt").write_text(r.notes)


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--sync", action="store_true")
    mode.add_argument("--check", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    start = time.monotonic()
    sync = args.sync or (not args.check and os.environ.get("CI", "").lower() not in ("true", "1"))

    print(f"chart {CHART.relative_to(ROOT)}; Helm SDK {helm.helm_sdk_version()} (helm-python-sdk "
          f"{helm.__version__}); kubernetes-validate {kubernetes_validate.__version__}, Kubernetes {KUBE_VERSION}")
    if sync:
        sync_kong()
    check_kong_sources()

    kube = KubeSchemas(KUBE_VERSION)
    chart = load_chart()
    meta = chart.metadata
    R.begin("Chart")
    R.all([
        (meta.get("apiVersion") == "v2", "Chart.yaml apiVersion v2"),
        (meta.get("name") == CHART_NAME, f"chart name {CHART_NAME}"),
        (chart.schema is not None, "values.schema.json present"),
        (not [t["name"] for t in chart.templates if re.search(r"(org-auth|human-agent|tenant-provisioning|manufacturer-catalog)", t["name"])],
         "no template file per service"),
    ], f"Chart.yaml apiVersion v2, values.schema.json, one set of templates ({len(chart.templates)} files)")
    default_values: dict = {}
    everything_values = yaml.safe_load(EVERYTHING.read_text()) or {}
    R.check(everything_values.get("serviceMonitor", {}).get("enabled") and all(
        v.get("autoscaling", {}).get("enabled") for v in everything_values.get("services", {}).values())
            and len(everything_values.get("services", {})) == len(SERVICES),
            "ci/everything-values.yaml turns on autoscaling for every service and the ServiceMonitors")
    check_lint(default_values, "default values")
    check_lint(everything_values, "ci/everything-values.yaml")

    crds = check_crds(chart, kube)

    variants = [
        ("default values", default_values),
        ("ci/everything-values.yaml", everything_values),
        ("default values, 3 services disabled, no NetworkPolicy monitoring rule",
         {"services": {"voice": {"enabled": False}, "crm": {"enabled": False}, "tenant-provisioning": {"enabled": False}},
          "networkPolicy": {"monitoring": {"enabled": False}}}),
        ("default values, tenant namespaces admission policy disabled",
         {"tenantNamespaces": {"admissionPolicy": {"enabled": False}}}),
    ]
    default_render = None
    for label, values in variants:
        R.begin(f"Render: {label}")
        r = render(chart, values, label)
        if r is None:
            continue
        if default_render is None:
            default_render = r
        if args.out:
            write_out(args.out, r)
        eff = effective_values(chart, values)
        check_schemas(r, kube)
        check_services(r, eff)
        check_redis_acl(r, eff)
        check_hooks_and_tests(r, eff)
        check_no_credentials(r)
        if eff["kong"]["config"]["enabled"]:
            check_kong_configmap(r, eff)
        check_notes(r, eff)
        check_tenant_rbac(r, eff)

    R.begin("Required values: leaving one out fails the render with a clear message")
    check_required(chart, default_values)

    check_dockerfile()

    if default_render is not None:
        print_counts(default_render, crds)

    elapsed = time.monotonic() - start
    print(f"\nchart test finished in {elapsed:.1f}s")
    if R.failed:
        print(f"\n{len(R.failed)} failure(s):")
        for f in R.failed:
            print(f"  - {f}")
    print(f"{R.passed} passed, {len(R.failed)} failed")
    return 1 if R.failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except Exception:  # a crash is a failure, with its traceback
        traceback.print_exc()
        print("0 passed, 1 failed")
        sys.exit(1)
