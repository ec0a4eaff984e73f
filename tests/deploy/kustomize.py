"""A small kustomize renderer for the features deploy/k8s uses, for machines without
`kustomize` or `kubectl kustomize`: `resources` (files and directories), `patches`
given as strategic-merge files, and `images`. Lists of objects with a `name` merge by
name, as containers, env and volumes do in Kubernetes; other lists are replaced.
"""

from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]


def render(directory: Path) -> list[Resource]:
    config = yaml.safe_load((directory / "kustomization.yaml").read_text())
    resources: list[Resource] = []
    for entry in config.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources.extend(render(path))
        else:
            resources.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    for patch_entry in config.get("patches", []):
        patch = yaml.safe_load((directory / patch_entry["path"]).read_text())
        target = _find(resources, patch["kind"], patch["metadata"]["name"])
        resources[resources.index(target)] = merge(target, patch)
    for image in config.get("images", []):
        for container in _containers(resources):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                new_tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{new_tag}" if new_tag else "")
    return resources


def merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if _named_list(base) and _named_list(patch):
        by_name = {item["name"]: item for item in base}
        patched = [merge(by_name.pop(item["name"]), item) if item["name"] in by_name else item
                   for item in patch]  # fmt: skip
        return patched + [item for item in base if item["name"] in by_name]
    return patch


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def _find(resources: list[Resource], kind: str, name: str) -> Resource:
    for resource in resources:
        if resource["kind"] == kind and resource["metadata"]["name"] == name:
            return resource
    raise ValueError(f"patch target {kind}/{name} is not among the resources")


def _containers(resources: list[Resource]) -> list[dict[str, Any]]:
    pods = [r["spec"]["template"]["spec"] for r in resources if r["kind"] == "Deployment"]
    return [c for pod in pods for c in pod.get("containers", []) + pod.get("initContainers", [])]
