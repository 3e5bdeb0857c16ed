"""Stack files: variables, validation, and one clear file:line:col error per problem."""

from __future__ import annotations

import pathlib

import pytest

from iacorch.errors import StackError
from iacorch.stack.load import load_stack, load_text

ROOT = pathlib.Path(__file__).resolve().parents[2]
AWS_WEB = (ROOT / "stacks" / "aws-web.yaml").read_text()
NAME = "stacks/aws-web.yaml"


def line_of(text: str, needle: str) -> int:
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in text")


def error_for(text: str, **kw) -> StackError:
    with pytest.raises(StackError) as info:
        load_text(text, NAME, base_dir=str(ROOT / "stacks"), **kw)
    return info.value


def test_reference_stack_loads_with_its_variables():
    sf = load_stack(str(ROOT / "stacks" / "aws-web.yaml"))
    assert sf.stack.launch_templates["node"].instance_type == "t3.small"
    assert sf.stack.groups["app"].size.target == 3
    assert sf.stack.groups["edge"].size.min == sf.stack.groups["edge"].size.max == 1


def test_var_precedence_file_then_var_file_then_cli(tmp_path):
    var_file = tmp_path / "vars.yaml"
    var_file.write_text("app_type: t3.large\nami: ami-from-file\n")
    sf = load_text(AWS_WEB, NAME, base_dir=str(ROOT / "stacks"), var_files=[str(var_file)],
                   overrides={"app_type": "t3.xlarge"})
    tpl = sf.stack.launch_templates["node"]
    assert tpl.instance_type == "t3.xlarge"
    assert tpl.image == "ami-from-file"


def test_single_expression_keeps_the_variable_type():
    text = AWS_WEB.replace("size: 1}", 'size: "{{ edges }}"}').replace("vars:\n", "vars:\n  edges: 2\n")
    sf = load_text(text, NAME, base_dir=str(ROOT / "stacks"))
    assert sf.stack.groups["edge"].size.target == 2


def test_stack_models_are_frozen():
    sf = load_text(AWS_WEB, NAME, base_dir=str(ROOT / "stacks"))
    with pytest.raises(Exception):
        sf.stack.groups["app"].template = "other"  # type: ignore[misc]


@pytest.mark.parametrize("case, edit, needle, message", [
    ("malformed YAML", ("edge: {template", "edge: {template: ["), "edge: {template", "malformed YAML"),
    ("wrong type", ("size: 1}", "size: three}"), "size: three", "groups.edge.size: expected a number"),
    ("unknown key", ("size: 1}", "sise: 1}"), "sise: 1", "unknown key 'sise'"),
    ("dangling reference", ("template: node, subnets: [public-a], security_groups: [edge]",
                            "template: nod, subnets: [public-a], security_groups: [edge]"),
     "template: nod", "launch template 'nod' is not defined"),
    ("bad CIDR", ("10.20.2.0/24", "10.20.2.0/33"), "10.20.2.0/33", "is not a valid CIDR"),
    ("host bits", ("10.20.2.0/24", "10.20.2.7/24"), "10.20.2.7/24", "did you mean 10.20.2.0/24"),
    ("overlapping CIDR", ("10.20.2.0/24", "10.20.1.128/25"), "10.20.1.128/25", "overlaps subnet 'public-a'"),
    ("CIDR outside VPC", ("10.20.2.0/24", "10.99.2.0/24"), "10.99.2.0/24", "is not inside the VPC"),
    ("undefined variable", ('"{{ ami }}"', '"{{ amy }}"'), "{{ amy }}", "undefined variable 'amy'"),
    ("dangling from_group", ("from_group: edge", "from_group: edgy"), "from_group: edgy",
     "security group 'edgy' is not defined"),
    ("dangling subnet", ("subnets: [public-a], security_groups: [edge]",
                         "subnets: [public-c], security_groups: [edge]"), "public-c", "subnet 'public-c'"),
    ("gcp field under aws", ("instance_type:", "machine_type:"), "machine_type:",
     "'machine_type' is not used by the aws provider"),
    ("subnet too small", ("10.20.2.0/24", "10.20.2.0/30"), "10.20.2.0/30", "has 0 usable addresses"),
    ("bad bounds", ("min: 2, max: 6, desired: 3", "min: 4, max: 2"), "min: 4", "min (4) is greater than max (2)"),
    ("loop on a host", ("services:\n", "reconcile: {on: edge}\nservices:\n"), "reconcile: {on: edge}",
     "reconcile.on: running the control loop as a service on a host is not supported yet"),
    ("autoscale bounds", ("replicas: 3\n", "replicas: 3\n    autoscale: {min: 5, max: 2, cpu_target: 50}\n"),
     "autoscale: {min: 5", "min (5) is greater than max (2)"),
])
def test_each_problem_names_file_line_and_field(case, edit, needle, message):
    old, new = edit
    assert old in AWS_WEB, case
    text = AWS_WEB.replace(old, new, 1)
    err = error_for(text)
    rendered = str(err)
    assert "Traceback" not in rendered
    matching = [e for e in getattr(err, "errors", [err]) if message in str(e)]
    assert matching, rendered
    where = matching[0].where
    assert where is not None and where.startswith(f"{NAME}:")
    assert int(where.split(":")[1]) == line_of(text, needle), rendered


def test_unknown_key_suggests_the_closest_name():
    err = error_for(AWS_WEB.replace("size: 1}", "sise: 1}"))
    assert err.hint == "did you mean 'size'?"


def test_dangling_reference_suggests_the_closest_name():
    err = error_for(AWS_WEB.replace("from_group: edge", "from_group: edgy"))
    assert err.hint == "did you mean 'edge'?"


def test_undefined_variable_hint_names_the_flag():
    err = error_for(AWS_WEB.replace('"{{ ami }}"', '"{{ amy }}"'))
    assert "--var amy=VALUE" in (err.hint or "")


def test_unquoted_jinja_at_value_start_gets_a_quoting_hint():
    err = error_for(AWS_WEB.replace('"{{ ami }}"', "{{ ami }}"))
    assert "quote" in (err.hint or "")


def test_duplicate_keys_are_errors():
    text = AWS_WEB.replace("  app_type: t3.small\n", "  app_type: t3.small\n  app_type: t3.large\n")
    err = error_for(text)
    assert "duplicate key 'app_type'" in str(err)


def test_several_problems_are_reported_together():
    text = AWS_WEB.replace("from_group: edge", "from_group: edgy").replace("10.20.2.0/24", "10.99.2.0/24")
    err = error_for(text)
    assert "edgy" in str(err) and "not inside the VPC" in str(err)


def test_exactly_one_provider():
    err = error_for(AWS_WEB.replace("  aws:\n    region: us-east-1", "  aws: {region: us-east-1}\n  local: {}"))
    assert "exactly one provider" in str(err)


def test_missing_key_file_is_reported_at_the_field(tmp_path):
    err = error_for(AWS_WEB.replace("ssh: {user: admin}", "ssh: {user: admin, key: ./nope}"))
    assert "no such private key file" in str(err)
    assert err.where.split(":")[1] == str(line_of(AWS_WEB, "ssh: {user: admin}"))


def test_secret_values_are_refused_only_references_allowed():
    text = AWS_WEB.replace("    port: 8080\n", "    port: 8080\n    secrets: {DB_PASSWORD: hunter2}\n")
    err = error_for(text)
    assert "secret DB_PASSWORD is not a reference" in str(err)
    assert "hunter2" not in str(err)  # it may be the secret itself: never echoed


def test_empty_file(tmp_path):
    err = error_for("")
    assert "empty" in str(err)


LB = """load_balancers:
  public:
    group: edge
    listen: 80
    service: web
"""


@pytest.mark.parametrize("edit, needle, message", [
    (("listen: 80", "listen: 80\n    algorithm: random"), "algorithm: random", "unknown algorithm 'random'"),
    # rules about the whole load balancer point at its mapping (its first key)
    (("listen: 80", "listen: 80\n    mode: tcp\n    algorithm: uri"), "    group: edge",
     "algorithm uri needs mode: http"),
    (("listen: 80", "listen: 80\n    stats_port: 80"), "    group: edge", "stats_port 80 is also a listening port"),
    (("service: web", "service: wbe"), "service: wbe", "service 'wbe' is not defined"),
    (("group: edge", "group: egde"), "group: egde", "group 'egde' is not defined"),
    (("listen: 80", "listen: 80\n    routes: [{service: web, host: 'shop.example.com:80'}]"), "routes:",
     "is not a host name"),
    (("listen: 80", "listen: 80\n    options:\n      - |\n        option httplog\n        bind :81"),
     "    group: edge", "one HAProxy line"),
])
def test_invalid_load_balancer_settings_are_refused_with_file_line(edit, needle, message):
    text = AWS_WEB + LB.replace(*edit)
    err = error_for(text)
    matching = [e for e in getattr(err, "errors", [err]) if message in str(e)]
    assert matching, str(err)
    assert int(matching[0].where.split(":")[1]) == line_of(text, needle), str(err)


def test_two_load_balancers_on_one_group_cannot_share_a_port():
    text = AWS_WEB + LB + "  admin:\n    group: edge\n    listen: 80\n    service: web\n"
    err = error_for(text)
    assert "port 80 is already used on group edge by load_balancers.public.listen" in str(err)
