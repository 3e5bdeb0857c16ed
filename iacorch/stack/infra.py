"""The VM side of the stack format: provider, network, security groups,
launch templates and instance groups."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from iacorch.stack.units import Cidr, Duration, Name, Size


class Spec(BaseModel):
    """Base of every stack model: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- provider ------------------------------------------------------------------------------


class AwsLock(Spec):
    dynamodb: str | None = Field(None, description="DynamoDB table for the stack lock (created if missing)")
    s3: str | None = Field(None, description="S3 bucket for the stack lock (conditional writes)")

    @model_validator(mode="after")
    def _one(self) -> "AwsLock":
        if self.dynamodb and self.s3:
            raise ValueError("give either dynamodb or s3 for the lock, not both")
        return self


class AwsSsh(Spec):
    via: Literal["public_ip", "private_ip"] = Field(
        "public_ip", description="which instance address SSH dials")
    bastion: str | None = Field(None, description="a group whose first instance is the jump host")


class AwsProvider(Spec):
    region: str | None = Field(None, description="defaults to AWS_REGION / the profile's region")
    profile: str | None = None
    endpoint: str | None = Field(None, description="API endpoint, e.g. a moto server (else AWS_ENDPOINT_URL)")
    lock: AwsLock = AwsLock()
    ssh: AwsSsh = AwsSsh()


class GcpProvider(Spec):
    project: str
    region: str
    zones: list[str] = Field(default_factory=list, description="zones to spread instances over")
    zone: str | None = Field(None, description="shorthand for a single zone")
    endpoint: str | None = Field(None, description="API endpoint, e.g. the local GCE server")
    lock: str | None = Field(None, description="file path of the stack lock (default: under ~/.iacorch)")

    @model_validator(mode="after")
    def _zones(self) -> "GcpProvider":
        if self.zone and self.zones:
            raise ValueError("give either zone or zones, not both")
        return self

    @property
    def all_zones(self) -> list[str]:
        return list(self.zones) or ([self.zone] if self.zone else [f"{self.region}-a"])


class LocalProvider(Spec):
    lock: str | None = Field(None, description="file path of the stack lock (default: under ~/.iacorch)")


class ProviderConfig(Spec):
    aws: AwsProvider | None = None
    gcp: GcpProvider | None = None
    local: LocalProvider | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        # `provider: {local: }` and `provider: {local: {}}` mean the same thing.
        if isinstance(data, dict):
            return {k: ({} if v is None else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> "ProviderConfig":
        chosen = [k for k in ("aws", "gcp", "local") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("choose exactly one provider: aws, gcp or local")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("aws", "gcp", "local") if getattr(self, k) is not None)


# -- network -------------------------------------------------------------------------------


class Vpc(Spec):
    cidr: Cidr


class Subnet(Spec):
    cidr: Cidr
    zone: str | None = None
    public: bool = Field(False, description="route through an internet gateway and give public IPs")


class Network(Spec):
    vpc: Vpc
    subnets: dict[Name, Subnet] = Field(default_factory=dict)


# -- security groups -----------------------------------------------------------------------


def _port_range(value: Any) -> tuple[int, int]:
    if isinstance(value, bool):
        raise ValueError("expected a port or a range such as 8000-8100")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, str) and value.strip().replace("-", "", 1).isdigit() and "-" in value:
        lo, hi = (int(p) for p in value.split("-", 1))
    elif isinstance(value, str) and value.strip().isdigit():
        lo = hi = int(value)
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = int(value[0]), int(value[1])
    else:
        raise ValueError(f"expected a port or a range such as 8000-8100, got {value!r}")
    if not (0 <= lo <= hi <= 65535):
        raise ValueError(f"port range {lo}-{hi} is outside 0-65535")
    return (lo, hi)


PortRange = Annotated[tuple[int, int], BeforeValidator(_port_range)]


class IngressRule(Spec):
    ports: list[PortRange] = Field(default_factory=list, description="ports or ranges; empty means all")
    protocol: Literal["tcp", "udp", "icmp", "all"] = "tcp"
    from_: list[Cidr] = Field(default_factory=list, alias="from", description="source CIDRs")
    from_group: str | None = Field(None, description="a security group of this stack")
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _scalar_lists(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "from" in data and isinstance(data["from"], str):
                data["from"] = [data["from"]]
            if "port" in data:
                if "ports" in data:
                    raise ValueError("give either port or ports, not both")
                data["ports"] = [data.pop("port")]
        return data

    @model_validator(mode="after")
    def _one_source(self) -> "IngressRule":
        if bool(self.from_) == bool(self.from_group):
            raise ValueError("a rule needs exactly one source: from (CIDRs) or from_group")
        return self


class SecurityGroup(Spec):
    description: str | None = None
    ingress: list[IngressRule] = Field(default_factory=list)


# -- launch templates and groups -----------------------------------------------------------


class SshSettings(Spec):
    user: str = "root"
    key: str | None = Field(
        None, description="private key file (its .pub is imported); default: a key iacorch generates per stack")
    port: int = Field(22, ge=1, le=65535)
    connect_timeout: Duration = 10.0


class LaunchTemplate(Spec):
    image: str | None = Field(None, description="AMI id (aws), image URL or family (gcp), ignored by local")
    instance_type: str | None = Field(None, description="aws only")
    machine_type: str | None = Field(None, description="gcp only")
    cpus: float | None = Field(None, gt=0, description="local only: CPU limit of each VM container")
    memory: Size | None = Field(None, description="local only: memory limit of each VM container")
    disk_gb: int | None = Field(None, ge=1, description="aws/gcp: root disk size")
    user_data: str | None = Field(None, description="aws/gcp: cloud-init user data")
    ssh: SshSettings


def _size(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number of instances or {min, max, desired}")
    if isinstance(value, int):
        return {"min": value, "max": value, "desired": value}
    if isinstance(value, dict):
        return value
    raise ValueError(f"expected a number of instances or {{min, max, desired}}, got {value!r}")


class GroupSize(Spec):
    min: int = Field(..., ge=0)
    max: int = Field(..., ge=0)
    desired: int | None = Field(None, ge=0, description="defaults to min")

    @model_validator(mode="after")
    def _bounds(self) -> "GroupSize":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        d = self.desired if self.desired is not None else self.min
        if not (self.min <= d <= self.max):
            raise ValueError(f"desired ({d}) must be between min ({self.min}) and max ({self.max})")
        return self

    @property
    def target(self) -> int:
        return self.desired if self.desired is not None else self.min


class GroupAutoscale(Spec):
    enabled: bool = True
    scale_in_idle: Duration = Field(300.0, description="remove an idle instance after this long")


class Group(Spec):
    template: str
    subnets: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    size: Annotated[GroupSize, BeforeValidator(_size)]
    autoscale: GroupAutoscale | None = Field(
        None, description="let the control loop own the instance count between min and max")
    max_surge: int = Field(1, ge=1, description="instances replaced at once in a rolling replace")


class Reconcile(Spec):
    on: str | None = Field(None, description="reserved: a group whose host would run the control loop "
                                             "(not supported yet; run `iacorch reconcile --watch`)")
    interval: Duration = Field(5.0, description="time between passes (a dying container wakes the loop early)")
    replace_after: Duration = Field(30.0, description="a host unreachable this long is replaced")
    max_restarts: int = Field(3, ge=1, description="restarts within restart_window before a replica is recreated")
    restart_window: Duration = 600.0
    restart_backoff: Duration = Field(2.0, description="first wait between restarts of a replica; doubles")
