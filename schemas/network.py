"""Network behaviour rules (``rules/network/*.yaml``): techniques from how hosts talk, not what one
record says. A Zeek ``conn`` or Suricata ``flow`` record names no technique; these rules turn
connection patterns into low-level technique hits that feed correlation like any other hit.

- ``beacon``: one source talks to one destination (address and port) at regular intervals: at
  least ``min_connections`` in a ``window``, intervals of at least ``min_interval``, low jitter
  (the intervals' coefficient of variation at most ``max_jitter``; RITA-style).
- ``outbound_volume``: one source sends at least ``min_bytes`` to external destinations in a
  ``window``.
- ``long_connection``: one connection lasts at least ``min_duration`` (decided per record).

Only connections to destinations outside the private, loopback and link-local ranges count,
unless ``internal: true``; ``exclude`` lists destination networks (CIDR) that never count.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.rules import Level, _check_duration, duration_ms

Analytic = Literal["beacon", "outbound_volume", "long_connection"]


class NetworkRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["network_behavior"]
    id: str = Field(min_length=1)
    title: str
    description: str | None = None
    analytic: Analytic
    techniques: list[str] = Field(min_length=1, description="ATT&CK ids the hit carries (tactics from the catalog)")
    level: Level = "low"
    window: str | int | None = Field(default=None, description="beacon, outbound_volume: the tumbling window")
    min_connections: int = Field(default=6, ge=3, description="beacon: connections in the window")
    min_interval: str | int = Field(default="10s", description="beacon: shorter gaps are a burst, not a beat")
    max_jitter: float = Field(default=0.2, gt=0, le=1, description="beacon: stddev / mean of the intervals")
    min_bytes: int | None = Field(default=None, ge=1, description="outbound_volume: bytes sent in the window")
    min_duration: str | int | None = Field(default=None, description="long_connection: one connection's length")
    ports: list[int] = Field(default_factory=list, description="only these destination ports (empty: any)")
    internal: bool = Field(default=False, description="count internal destinations too")
    exclude: list[str] = Field(default_factory=list, description="destination networks that never count (CIDR)")

    @field_validator("window", "min_interval", "min_duration")
    @classmethod
    def _durations(cls, value: str | int | None) -> str | int | None:
        return _check_duration(value)

    @field_validator("exclude")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"{text!r} is not a network (CIDR such as 203.0.113.0/24)") from None
        return value

    @property
    def window_ms(self) -> int:
        return duration_ms(self.window) if self.window is not None else 0

    @property
    def min_interval_ms(self) -> int:
        return duration_ms(self.min_interval)

    @property
    def min_duration_ms(self) -> int:
        return duration_ms(self.min_duration) if self.min_duration is not None else 0

    def problems(self) -> list[tuple[tuple[str, ...], str]]:
        """(field path, message) for what pydantic alone cannot say: what each analytic needs."""
        needs = {"beacon": ("window",), "outbound_volume": ("window", "min_bytes"),
                 "long_connection": ("min_duration",)}
        return [((name,), f"an {self.analytic} rule needs {name}") for name in needs[self.analytic]
                if getattr(self, name) is None]
