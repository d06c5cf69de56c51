"""The database schema, one module per part of the service.

The database is the record. `feeds.yaml` is loaded into it by `digest config sync`; after that the
CLI and the web app change these rows directly. Every schema change ships an Alembic migration.
"""

from digest.models.accounts import AuditEntry, LoginFailure, Role, User, WebSession
from digest.models.base import NAMING_CONVENTION, Base
from digest.models.content import (
    Feed,
    FeedKind,
    FeedTopic,
    Item,
    ItemSource,
    ItemStatus,
    ItemTopic,
    Newsletter,
    Section,
    Tombstone,
    Topic,
    TopicSource,
)
from digest.models.delivery import (
    Delivery,
    DeliveryStatus,
    MailEvent,
    SendBudget,
    SendCount,
    Worker,
)
from digest.models.editions import Edition, EditionItem, EditionState
from digest.models.subscribers import (
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionTopic,
    Suppression,
)

__all__ = [
    "NAMING_CONVENTION",
    "AuditEntry",
    "Base",
    "ConsentEvent",
    "Delivery",
    "DeliveryStatus",
    "Edition",
    "EditionItem",
    "EditionState",
    "Feed",
    "FeedKind",
    "FeedTopic",
    "Item",
    "ItemSource",
    "ItemStatus",
    "ItemTopic",
    "LoginFailure",
    "MailEvent",
    "Newsletter",
    "Role",
    "Section",
    "SendBudget",
    "SendCount",
    "Subscriber",
    "SubscriberStatus",
    "Subscription",
    "SubscriptionTopic",
    "Suppression",
    "Tombstone",
    "Topic",
    "TopicSource",
    "User",
    "WebSession",
    "Worker",
]
