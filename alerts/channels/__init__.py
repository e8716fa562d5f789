"""Delivery channels for alerts: signed webhooks and SMS through an HTTP gateway."""

from alerts.channels.base import (
    Channel,
    ChannelKind,
    DeliveryOutcome,
    DeliveryStatus,
    OutboundMessage,
)

__all__ = ["Channel", "ChannelKind", "DeliveryOutcome", "DeliveryStatus", "OutboundMessage"]
