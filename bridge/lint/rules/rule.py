"""What a lint rule is (`Rule`), its severities, and the example migration every catalog builds on."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"

EXAMPLE_FILENAME = "20251031_add_error_message.py"


@dataclass(frozen=True)
class Danger:
    """One statement's problem as a rule finds it: the code, the message, the rewrite."""

    code: str
    message: str
    hint: str


@dataclass(frozen=True)
class Rule:
    """One check: its code, its severity and how it is explained to users."""

    code: str
    name: str
    severity: str
    summary: str
    hint: str
    explanation: str
    bad: str
    good: str
    bad_filename: str = EXAMPLE_FILENAME
    good_filename: str = EXAMPLE_FILENAME
    default_enabled: bool = True  # False: reported only when a selector other than ALL names it
    # The severity when the configuration names tenant schemas (`RuleOptions.tenant_schemas`).
    tenant_severity: str | None = None


TEMPLATE = """\
from sqlalchemy import text


def upgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders ADD COLUMN IF NOT EXISTS error_message TEXT"))


def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
"""

DOWNGRADE = """

def downgrade(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE open_orders DROP COLUMN IF EXISTS error_message"))
"""


def upgrade_example(
    body: str, header: str = "from sqlalchemy import text\n", signature: str = "def upgrade(engine):"
) -> str:
    """Return a small migration module whose upgrade() runs *body*."""
    lines = body.strip("\n").splitlines()
    indented = "\n".join(("    " + line) if line else "" for line in lines)
    return f"{header}\n\n{signature}\n{indented}\n{DOWNGRADE}"


@dataclass(frozen=True)
class RuleOptions:
    """What the rules need to know beyond the file: which families run, and about the server."""

    lock_rules: bool = True  # the lock-danger rules (LB5xx); `check` turns them off for applied files
    postgres_version: int = 16
    lock_timeout_configured: bool | None = None  # None: no Alembic configuration known, so not judged
    tenant_schemas: bool = False  # the configuration names tenant schemas (`fleet_schemas`)
