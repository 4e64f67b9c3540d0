from guichet_common.db import run_migrations
from guichet_demarches.models import Base

run_migrations(Base.metadata)
