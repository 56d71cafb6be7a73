"""The KETL Mtn. Apparel recommender: profile, catalog matching, reasons and the brand's voice."""

from .workflow import (
    ROUTING_SCHEMA,
    SETTINGS,
    RoutingOrchestrator,
    products_plan,
    recommend,
    topic_evidence,
)

__all__ = [
    "SETTINGS",
    "ROUTING_SCHEMA",
    "RoutingOrchestrator",
    "products_plan",
    "recommend",
    "topic_evidence",
]
