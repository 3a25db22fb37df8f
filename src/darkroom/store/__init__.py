"""The metadata store: API keys, per-key limits, the usage ledger and kept images, in one database.

    database.py   open (SQLite in the data directory, or `database_url`) and migrate (Alembic)
    schema.py     the tables
    keys.py       keys issued by `darkroom keys`, stored as hashes
    limits.py     per-key token buckets and the monthly quota, shared by every process
    leases.py     the server's per-process leases on them (most requests never touch the database)
    ledger.py     one usage row per image request, written in the background
    budgets.py    monthly budgets in dollars, from the ledger's costs
    kept.py       images kept by `store_all`, retrievable by their owner only

`MetadataStore.open(settings)` gives all of them on one engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ..config import Settings
from .budgets import Budgets
from .database import database_url, open_database
from .kept import KeptImages
from .keys import KeyStore
from .leases import LeasedLimits
from .ledger import UsageLedger
from .limits import RateLimiter


@dataclass
class MetadataStore:
    engine: sa.Engine
    keys: KeyStore
    limits: RateLimiter
    ledger: UsageLedger
    kept: KeptImages
    leases: LeasedLimits
    budgets: Budgets

    @classmethod
    def open(cls, settings: Settings) -> MetadataStore:
        engine = open_database(database_url(settings.database_url, settings.data_dir))
        limits, ledger = RateLimiter(engine), UsageLedger(engine)
        return cls(engine, KeyStore(engine), limits, ledger, KeptImages(engine), LeasedLimits(limits), Budgets(ledger))

    def close(self) -> None:
        self.ledger.close()
        self.engine.dispose()
