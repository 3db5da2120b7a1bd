"""values.yaml is documented (`# --`), typed in values.schema.json, and the
README values table is in sync with it."""

from __future__ import annotations

import importlib.util
import json

import jsonschema
import pytest
import yaml

from tests.chart.helpers import CHART, CI_DIR, ROOT, SCENARIOS

pytestmark = pytest.mark.chart


def _readme_module():
    spec = importlib.util.spec_from_file_location(
        "chart_readme", ROOT / "scripts" / "chart_readme.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


chart_readme = _readme_module()
VALUES_TEXT = (CHART / "values.yaml").read_text()
VALUES = yaml.safe_load(VALUES_TEXT)
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
DOCS = chart_readme.documented_values(VALUES_TEXT)


def leaves(node, prefix=""):
    """Dotted paths of every key in values.yaml (maps are walked, lists are leaves)."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, dict) and value:
            yield from leaves(value, path + ".")


def resolve(node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/definitions/")
        node = SCHEMA["definitions"][name]
    return node


def schema_at(path: str) -> dict | None:
    """Schema of a dotted values path; None when the schema does not know it."""
    node = resolve(SCHEMA)
    for part in path.split("."):
        props = node.get("properties", {})
        if part in props:
            node = resolve(props[part])
        elif isinstance(node.get("additionalProperties"), dict):
            node = resolve(node["additionalProperties"])
        elif node.get("type") == "object" and node.get("additionalProperties", True) is not False:
            return {"type": "object", "free": True}
        else:
            return None
    return node


def test_every_value_is_documented():
    undocumented = [
        p for p in leaves(VALUES) if not any(p == d or p.startswith(d + ".") for d in DOCS)
    ]
    # a key whose children are all documented is a section, not a value
    undocumented = [p for p in undocumented if not any(d.startswith(p + ".") for d in DOCS)]
    assert not undocumented, f"values without a `# --` comment: {undocumented}"


def test_documented_keys_exist():
    assert len(DOCS) > 100
    for path in DOCS:
        chart_readme.lookup(VALUES, path)


def test_every_value_is_typed_in_the_schema():
    for path in leaves(VALUES):
        node = schema_at(path)
        assert node is not None, f"{path} is not in values.schema.json"
        if node.get("free"):
            continue
        assert "type" in node or "oneOf" in node or "enum" in node, f"{path} has no type"


def test_schema_is_draft7_and_closed():
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["additionalProperties"] is False
    for section in ("gateway", "worker", "resonate", "postgresql", "networkPolicy", "metrics"):
        assert resolve(SCHEMA["properties"][section])["additionalProperties"] is False, section


@pytest.mark.parametrize("scenario", ["values.yaml", *SCENARIOS])
def test_values_files_validate_against_the_schema(scenario):
    validator = jsonschema.Draft7Validator(SCHEMA)
    data = (
        VALUES
        if scenario == "values.yaml"
        else yaml.safe_load((CI_DIR / f"{scenario}-values.yaml").read_text())
    )
    merged = merge(VALUES, data)
    errors = sorted(validator.iter_errors(merged), key=str)
    assert not errors, [e.message for e in errors]


def merge(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return over


def test_schema_rejects_typos_and_bad_numbers():
    validator = jsonschema.Draft7Validator(SCHEMA)
    bad = [
        merge(VALUES, {"gatway": {}}),
        merge(VALUES, {"worker": {"leaseTtlSecond": 5}}),
        merge(VALUES, {"worker": {"concurrency": 0}}),
        merge(VALUES, {"resonate": {"logLevel": "verbose"}}),
        merge(VALUES, {"postgresql": {"external": {"sslMode": "on"}}}),
    ]
    for values in bad:
        assert list(validator.iter_errors(values))


def test_readme_values_table_is_in_sync():
    readme = (CHART / "README.md").read_text()
    expected = chart_readme.render_readme(readme, VALUES_TEXT)
    assert readme == expected, (
        "charts/longhaul/README.md is stale: run python scripts/chart_readme.py"
    )


def test_readme_table_generator_sees_changes():
    """A new documented value shows up in the table (the sync test can fail)."""
    text = VALUES_TEXT.replace(
        "  # -- Gateway replicas when autoscaling is off.\n",
        "  # -- A brand new knob.\n  newKnob: 3\n"
        "  # -- Gateway replicas when autoscaling is off.\n",
    )
    assert "| `gateway.newKnob` | int | `3` | A brand new knob. |" in chart_readme.table(text)
