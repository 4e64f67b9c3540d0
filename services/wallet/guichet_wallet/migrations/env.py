from guichet_common.db import run_migrations
from guichet_wallet.models import Base

run_migrations(Base.metadata)
