"""The database schema, one module per part of the service.

The database is the record. `feeds.yaml` is loaded into it by `digest config sync`; after that the
CLI and the web app change these rows directly. Every schema change ships an Alembic migration.
"""

from digest.models.accounts import AuditEntry, LoginFailure, Role, User, WebSession
from digest.models.base import NAMING_CONVENTION, Base
from digest.models.content import (
    DuplicateState,
    Feed,
    FeedKind,
    FeedTopic,
    Item,
    ItemSource,
    ItemStatus,
    Newsletter,
    Placement,
    PlacementTopic,
    PossibleDuplicate,
    Section,
    SuggestionModel,
    Tombstone,
    Topic,
    TopicSource,
)
from digest.models.delivery import (
    Delivery,
    DeliveryStatus,
    Installation,
    MailEvent,
    SendBudget,
    SendCount,
    Worker,
)
from digest.models.editions import (
    Contribution,
    Edition,
    EditionContributor,
    EditionItem,
    EditionState,
)
from digest.models.research import Enrichment, EnrichmentState, ResearchLookup
from digest.models.subscribers import (
    ConsentEvent,
    MailRequest,
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
    "Contribution",
    "Delivery",
    "DeliveryStatus",
    "DuplicateState",
    "Edition",
    "EditionContributor",
    "EditionItem",
    "EditionState",
    "Enrichment",
    "EnrichmentState",
    "Feed",
    "FeedKind",
    "FeedTopic",
    "Installation",
    "Item",
    "ItemSource",
    "ItemStatus",
    "LoginFailure",
    "MailEvent",
    "MailRequest",
    "Newsletter",
    "Placement",
    "PlacementTopic",
    "PossibleDuplicate",
    "ResearchLookup",
    "Role",
    "Section",
    "SendBudget",
    "SendCount",
    "Subscriber",
    "SubscriberStatus",
    "Subscription",
    "SubscriptionTopic",
    "SuggestionModel",
    "Suppression",
    "Tombstone",
    "Topic",
    "TopicSource",
    "User",
    "WebSession",
    "Worker",
]
