"""Incidents: every hedge, rollback and residual exposure, on the record.

An unresolved RESIDUAL incident arms the kill switch of the executor that recorded it:
no new execution that could add exposure is accepted until someone resolves it.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from fundarb.logs import log_event

__all__ = ["Incident", "IncidentKind", "IncidentLeg", "IncidentLog"]

logger = logging.getLogger("fundarb.execution")


class IncidentKind(StrEnum):
    HEDGE = "hedge"  # a lagging leg was completed to match the others
    ROLLBACK = "rollback"  # filled legs were closed (to flat, or down to the balanced size)
    RESIDUAL = "residual"  # exposure we could not remove: a human must look


@dataclass(frozen=True, slots=True)
class IncidentLeg:
    """One leg as the incident saw it. ``quantity`` is signed: + bought, - sold."""

    venue: str
    symbol: str
    quantity: Decimal
    price: Decimal | None


@dataclass(slots=True, kw_only=True)
class Incident:
    """What happened, to what, at what cost, and what was tried."""

    incident_id: str
    kind: IncidentKind
    execution_id: str
    time: datetime
    legs: tuple[IncidentLeg, ...]
    cost_usd: Decimal
    actions: tuple[str, ...]
    resolved: bool = False
    resolution: str = ""


@dataclass(slots=True)
class IncidentLog:
    """Incidents kept in memory (persisted once the storage layer lands)."""

    incidents: list[Incident] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def record(
        self,
        kind: IncidentKind,
        *,
        execution_id: str,
        legs: tuple[IncidentLeg, ...],
        cost_usd: Decimal,
        actions: tuple[str, ...],
        resolved: bool,
    ) -> Incident:
        incident = Incident(
            incident_id=f"inc-{execution_id}-{next(self._ids)}",
            kind=kind,
            execution_id=execution_id,
            time=datetime.now(tz=UTC),
            legs=legs,
            cost_usd=cost_usd,
            actions=actions,
            resolved=resolved,
        )
        self.incidents.append(incident)
        level = logging.CRITICAL if kind is IncidentKind.RESIDUAL else logging.WARNING
        log_event(
            logger,
            level,
            f"incident.{kind.value}",
            execution_id=execution_id,
            incident_id=incident.incident_id,
            legs=";".join(f"{leg.venue}:{leg.symbol}:{leg.quantity}" for leg in legs),
            cost_usd=cost_usd,
            actions=" | ".join(actions),
        )
        return incident

    @property
    def open_residuals(self) -> list[Incident]:
        """Unresolved residual exposure: while any exist, the kill switch is on."""
        return [i for i in self.incidents if i.kind is IncidentKind.RESIDUAL and not i.resolved]

    def resolve(self, incident_id: str, resolution: str) -> Incident:
        """Mark an incident resolved (say how). Raises ``KeyError`` for an unknown id."""
        for incident in self.incidents:
            if incident.incident_id == incident_id:
                incident.resolved = True
                incident.resolution = resolution
                log_event(
                    logger,
                    logging.WARNING,
                    "incident.resolved",
                    execution_id=incident.execution_id,
                    incident_id=incident_id,
                    resolution=resolution,
                )
                return incident
        raise KeyError(incident_id)
