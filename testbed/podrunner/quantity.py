"""Kubernetes resource quantities ("500m", "2Gi") for the downward API's resourceFieldRef."""

from __future__ import annotations

import math
import os
import re
import shutil
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse(text: str) -> Decimal:
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 2Gi, 1.5)")
    number, suffix = match.groups()
    try:
        value = Decimal(number)
    except InvalidOperation as e:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 2Gi, 1.5)") from e
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    if suffix in _DECIMAL:
        return value * _DECIMAL[suffix]
    raise ValueError(f"{text!r} has an unknown suffix {suffix!r}; use one of Ki Mi Gi Ti m k M G T")


def divide(amount: str, divisor: str, *, resource: str) -> str:
    """ceil(amount / divisor), as the kubelet rounds resourceFieldRef values up to whole units."""
    by = parse(divisor)
    if by <= 0:
        raise ValueError(
            f"resourceFieldRef {resource} has divisor {divisor!r}; it must be positive"
        )
    return str(math.ceil(parse(amount) / by))


def node_allocatable(what: str, *, kind: str) -> str:
    """What this machine offers, standing in for a missing limit (or request) as the node's allocatable."""
    del kind
    if what == "cpu":
        return str(os.cpu_count() or 1)
    if what == "memory":
        with open("/proc/meminfo") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
        return f"{kib}Ki"
    if what == "ephemeral-storage":
        return str(shutil.disk_usage("/").total)
    raise ValueError(f"resourceFieldRef resource {what!r} is not cpu, memory or ephemeral-storage")
