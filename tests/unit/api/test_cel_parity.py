"""Each cross-field rule means the same in CEL (the API server) as in Python (everyone else).

The CEL is evaluated with a CEL interpreter on the wire form, after applying the CRD's defaults as
the API server does; Python is the pydantic model. They must agree on every generated object.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from modelrollout import api
from modelrollout.api import base, crd

cel = pytest.importorskip("cel", reason="the CEL interpreter comes with the test extra")
pytestmark = pytest.mark.unit


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return crd.structural(raw, raw.get("$defs", {}))


def with_defaults(node: dict[str, Any], value: Any) -> Any:
    """Fill in schema defaults the way the API server does before it runs CEL."""
    if isinstance(value, dict) and "properties" in node:
        out = dict(value)
        for key, sub in node["properties"].items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = with_defaults(sub, out[key])
        return out
    if isinstance(value, list) and "items" in node:
        return [with_defaults(node["items"], v) for v in value]
    return value


def present(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


numbers = st.floats(-5, 5, allow_nan=False)
small = st.floats(0, 1, allow_nan=False)
positive = st.floats(0, 5, allow_nan=False)
# The values where the metrics' unit rules turn: below 0, the ends of [0, 1], percent by mistake.
edges = st.one_of(st.sampled_from([-1.0, 0.0, 1.0, 1.5, 90.0]), numbers)
at_most_1 = st.floats(-5, 1, allow_nan=False)
# Comparison margins are strictly positive fields (a zero margin cannot be tested for).
margins = st.floats(0, 1, allow_nan=False, exclude_min=True)
empty = st.just({})
ANALYSIS = {"prometheus": {"address": "http://p:9090"}, "metrics": [{"name": "accuracy", "min": 1}]}
# Agreement is counted by the stable's forwarding: a query on it is refused under gatewayAPI.
ANALYSIS_ON_SHADOW_SERIES = {
    **ANALYSIS,
    "metrics": [
        {"name": "accuracy", "min": 1},
        {"name": "agreement", "min": 0.9, "query": "sum(model_shadow_agreement_total)"},
    ],
}

WIRE: dict[type[BaseModel], st.SearchStrategy[dict[str, Any]]] = {
    api.ModelSpec: st.builds(
        lambda f, a, src: present(
            name="m", version="1", uri="file:///m", format=f, allowUnsafePickle=a, source=src
        ),
        maybe(st.sampled_from(["skops", "joblib", "onnx"])),
        maybe(st.booleans()),
        # Python parses the resolved form only: a source beside version and uri is refused by both.
        maybe(st.just({"directory": {"uri": "file:///models/"}})),
    ),
    api.MlflowSource: st.builds(
        lambda alias, stage: present(
            trackingUri="http://mlflow:5000", model="m", alias=alias, stage=stage
        ),
        maybe(st.just("champion")),
        maybe(st.sampled_from(["Staging", "Production"])),
    ),
    api.ModelSource: st.builds(
        lambda m, d: present(mlflow=m, directory=d),
        maybe(st.just({"trackingUri": "http://mlflow:5000", "model": "m", "alias": "a"})),
        maybe(st.just({"uri": "file:///models/"})),
    ),
    api.AutoscalingSpec: st.builds(
        lambda lo, hi, cpu, rps: present(
            minReplicas=lo, maxReplicas=hi, targetCPU=cpu, targetRequestsPerSecond=rps
        ),
        st.integers(1, 5),
        st.integers(1, 5),
        maybe(st.integers(1, 100)),
        maybe(st.integers(1, 100)),
    ),
    api.EnvVar: st.builds(
        lambda v, f: present(name="X", value=v, valueFrom=f),
        maybe(st.just("1")),
        maybe(st.just({"fieldRef": {"fieldPath": "metadata.name"}})),
    ),
    api.ServingSpec: st.builds(
        lambda auth, names, scale, res: present(
            feedbackAuth=auth,
            env=None if names is None else [{"name": n} for n in names],
            autoscaling=scale,
            resources=res,
        ),
        maybe(st.just({"secretName": "s"})),
        maybe(st.lists(st.sampled_from(["X", api.FEEDBACK_TOKEN_ENV]), unique=True)),
        maybe(st.just({"minReplicas": 1, "maxReplicas": 3, "targetCPU": 50})),
        maybe(st.sampled_from([{}, {"requests": {"memory": "1Gi"}}, {"requests": {"cpu": "1"}}])),
    ),
    api.ColumnSpec: st.builds(
        lambda lo, hi: present(name="c", type="float", min=lo, max=hi),
        maybe(numbers),
        maybe(numbers),
    ),
    api.Bound: st.builds(lambda lo, hi: present(min=lo, max=hi), maybe(numbers), maybe(numbers)),
    api.ScoreBound: st.builds(lambda lo, hi: present(min=lo, max=hi), maybe(small), maybe(small)),
    api.NonNegativeBound: st.builds(
        lambda lo, hi: present(min=lo, max=hi), maybe(positive), maybe(positive)
    ),
    api.R2Bound: st.builds(
        lambda lo, hi: present(min=lo, max=hi), maybe(at_most_1), maybe(at_most_1)
    ),
    api.FairnessSpec: st.builds(
        lambda m, gap: present(groupColumn="g", metric=m, maxGap=gap),
        maybe(st.sampled_from(["accuracy", "f1", "rocAuc", "rmse", "mae", "r2"])),
        positive,
    ),
    api.CompareWithStableSpec: st.builds(
        lambda m, drop: present(metric=m, maxDrop=drop),
        maybe(st.sampled_from(["accuracy", "f1", "rocAuc", "rmse", "mae", "r2"])),
        positive,
    ),
    api.Step: st.builds(
        lambda w, p, a, s: present(setWeight=w, pause=p, analysis=a, shadow=s),
        maybe(st.integers(0, 100)),
        maybe(st.sampled_from([{}, {"duration": "5s"}])),
        maybe(empty),
        maybe(st.sampled_from([{"duration": "1m"}, {"duration": "10m", "mirror": 20}])),
    ),
    api.RolloutSpec: st.builds(
        lambda steps, routing: present(steps=steps, trafficRouting=routing),
        maybe(
            st.lists(
                st.sampled_from(
                    [
                        {"setWeight": 5},
                        {"shadow": {"duration": "1m"}},
                        {"shadow": {"duration": "1m", "mirror": 100}},
                        {"shadow": {"duration": "2m", "mirror": 20}},
                    ]
                ),
                max_size=3,
            )
        ),
        maybe(st.sampled_from([{}, {"none": {}}, {"gatewayAPI": {"httpRoute": "r"}}])),
    ),
    api.TrafficRouting: st.builds(
        lambda r, g, n: present(replicaRatio=r, gatewayAPI=g, none=n),
        maybe(empty),
        maybe(st.just({"httpRoute": "r"})),
        maybe(empty),
    ),
    api.MetricComparison: st.builds(
        lambda d, i, r: present(maxDrop=d, maxIncrease=i, maxIncreaseRatio=r),
        maybe(margins),
        maybe(margins),
        maybe(margins),
    ),
    api.MetricSpec: st.builds(
        lambda n, q, lo, hi, c: present(name=n, query=q, min=lo, max=hi, compare=c),
        st.sampled_from(["accuracy", "error_rate", "latency_p99_ms", "queue_depth"]),
        maybe(st.just("sum(up)")),
        maybe(edges),
        maybe(edges),
        # One margin each (the comparison's own rule is MetricComparison's), inside its field bounds.
        maybe(
            st.builds(
                lambda key, value: {key: value},
                st.sampled_from(["maxDrop", "maxIncrease", "maxIncreaseRatio"]),
                st.sampled_from([0.01, 0.5, 0.999, 1.0, 1.5, 100.0]),
            )
        ),
    ),
    api.AnalysisSpec: st.builds(
        lambda provider, prom, http: present(
            provider=provider, prometheus=prom, http=http, metrics=[{"name": "accuracy", "min": 1}]
        ),
        maybe(st.sampled_from(api.METRIC_PROVIDERS)),
        maybe(st.just({"address": "http://p:9090"})),
        maybe(st.just({"url": "http://m:8080/measure"})),
    ),
    api.ValidationSpec: st.builds(
        lambda ref, drift, cols, group: present(
            dataset={"uri": "file:///d.csv", "target": "y"},
            referenceDataset=ref,
            maxDrift=drift,
            schema=None if cols is None else [{"name": c, "type": "float"} for c in cols],
            fairness=None if group is None else {"groupColumn": group, "maxGap": 0.1},
        ),
        maybe(st.just({"uri": "file:///r.csv"})),
        maybe(small),
        maybe(st.lists(st.sampled_from("ab"), unique=True)),
        maybe(st.sampled_from("abc")),
    ),
    api.MonitoringSpec: st.builds(
        lambda drift, accuracy: present(drift=drift, accuracy=accuracy),
        maybe(st.sampled_from([{}, {"maxPSI": 0.1, "bins": 5}])),
        maybe(st.just({"min": 0.9})),
    ),
    api.ModelDeploymentSpec: st.builds(
        lambda steps, routing, analysis: present(
            model={"name": "m", "version": "1", "uri": "file:///m"},
            rollout=None if steps is None else present(steps=steps, trafficRouting=routing),
            analysis=analysis,
        ),
        maybe(
            st.lists(
                st.sampled_from(
                    [{"setWeight": 5}, {"analysis": {}}, {"shadow": {"duration": "1m"}}]
                ),
                max_size=3,
            )
        ),
        maybe(st.sampled_from([{}, {"gatewayAPI": {"httpRoute": "r"}}])),
        maybe(st.sampled_from([ANALYSIS, ANALYSIS_ON_SHADOW_SERIES])),
    ),
}


def test_every_class_with_rules_is_covered() -> None:
    with_rules = {m for m in vars(api).values() if isinstance(m, type) and m.__dict__.get("rules")}
    assert with_rules == set(WIRE)


@pytest.mark.parametrize("model", list(WIRE), ids=lambda m: m.__name__)
def test_cel_and_python_agree(model: type[BaseModel]) -> None:
    schema = schema_of(model)
    rules: tuple[api.Rule, ...] = model.__dict__["rules"]

    @settings(max_examples=150, deadline=None)
    @given(wire=WIRE[model])
    def agree(wire: dict[str, Any]) -> None:
        env = {"self": with_defaults(schema, wire)}
        cel_ok = {rule.cel: bool(cel.evaluate(rule.cel, env)) for rule in rules}
        try:
            model.model_validate(wire)
            python_error = ""
        except ValidationError as err:
            python_error = str(err)
        if all(cel_ok.values()):
            assert python_error == "", f"CEL passes {wire} but Python rejects it: {python_error}"
            return
        assert python_error, f"CEL rejects {wire} but Python accepts it"
        failing = [rule for rule in rules if not cel_ok[rule.cel]]
        assert any(rule.message in python_error for rule in failing), python_error

    agree()


def field_rules(annotation: Any) -> Iterator[api.Rule]:
    """Rules on a field's value, looking through Optional and nested Annotated types."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, api.Rule):
            yield meta
    for arg in typing.get_args(annotation):
        yield from field_rules(arg)


def rules_on_fields() -> dict[str, api.Rule]:
    found: dict[str, api.Rule] = {}
    for model in vars(api).values():
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, info in model.model_fields.items():
                on_field = [m for m in info.metadata if isinstance(m, api.Rule)]
                for rule in [*on_field, *field_rules(info.annotation)]:
                    found[f"{model.__name__}.{name}: {rule.message}"] = rule
    return found


durations = st.from_regex(base.DURATION_PATTERN, fullmatch=True).filter(lambda d: len(d) <= 32)
near_durations = st.one_of(
    durations, st.text(alphabet="0123456789.-+ smhnuµ", max_size=12), st.just("30s\n")
)
# What each field rule is tried on: values near and inside what its field's type admits.
FIELD_VALUES = {
    f"self.matches('{base.DURATION_PATTERN}')": near_durations,
    "self.matches('[1-9]')": durations,
    "self >= 0.5 && self <= 0.999": st.one_of(
        st.floats(0, 1, allow_nan=False), st.sampled_from([0.5, 0.999, 0.4999, 0.9991])
    ),
    "self >= 0.5 && self <= 0.999999": st.one_of(
        st.floats(0, 1, allow_nan=False),
        st.sampled_from([0.5, 0.9999, 0.999999, 0.4999, 0.9999991, 1.0]),
    ),
    "self >= 0.0 && self <= 1.0": st.one_of(
        st.floats(-1, 2, allow_nan=False), st.sampled_from([0.0, 1.0, -0.0001, 1.0001, 90.0])
    ),
}


def test_every_field_rule_has_values_to_try() -> None:
    found = rules_on_fields()
    assert {rule.cel for rule in found.values()} == set(FIELD_VALUES)
    assert any(k.startswith("PauseStep.duration: a pause must last") for k in found)
    assert any(k.startswith("ValidationSpec.timeout: must be more than zero") for k in found)
    assert any(k.startswith("RollbackSpec.scale_down_delay: must be a duration") for k in found)
    assert not any(k.startswith("RollbackSpec.scale_down_delay: must be more") for k in found)


@pytest.mark.parametrize("key", sorted(rules_on_fields()))
def test_cel_and_python_agree_on_a_field_rule(key: str) -> None:
    rule = rules_on_fields()[key]

    @settings(max_examples=200, deadline=None)
    @given(value=FIELD_VALUES[rule.cel])
    def agree(value: Any) -> None:
        assert bool(cel.evaluate(rule.cel, {"self": value})) == rule.check(value), value

    agree()


names = st.one_of(
    st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,70}[a-z0-9])?", fullmatch=True),
    st.integers(50, 64).map(lambda n: "m" * n),
)


@settings(max_examples=300, deadline=None)
@given(name=names)
def test_cel_and_python_agree_on_the_name_rules(name: str) -> None:
    md = {"metadata": {"name": name}}
    for rule in api.NAME_RULES:
        assert bool(cel.evaluate(rule.cel, {"self": md})) == rule.check(md), (rule.cel, name)
