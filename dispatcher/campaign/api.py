"""The Python API: create a campaign from a campaign file, or from a template and rows.

```python
import asyncio
from dispatcher.campaign import create_campaign
from dispatcher.settings import load_settings

summary = asyncio.run(create_campaign(
    {"type": "button", "body": {"text": "Hi {{ name }}, pick a plan"},
     "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "Growth"}}]}},
    [{"to": "+918856879188", "name": "Asha"}, {"to": "+918856879189", "name": "Ravi"}],
    name="spring", settings=load_settings()))
print(summary.campaign_id, summary.accepted, summary.problems)
```

Both paths run the same checks as ``dispatcher enqueue`` (the producer in
``dispatcher.producer`` does the writing); bad input raises :class:`InputError` (fatal, nothing
written) or ends up in ``summary.problems`` (rejected rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from dispatcher.campaign.hygiene import load_suppression_file, normalize_numbers
from dispatcher.campaign.problems import FieldError
from dispatcher.campaign.readers import RecipientFile, Row, RowOrProblem, mapping_rows
from dispatcher.campaign.rows import RowChecker
from dispatcher.campaign.spec import CampaignSpec, load_campaign_file, spec_from_mapping
from dispatcher.campaign.template import MessageTemplate
from dispatcher.checking import Problem
from dispatcher.errors import InputError
from dispatcher.settings import Settings
from dispatcher.store import JobStore

if TYPE_CHECKING:
    from celery import Celery

    from dispatcher.producer import CampaignPlan, EnqueueSummary, Outcome

__all__ = ["Prepared", "create_campaign", "enqueue_campaign_file", "prepare"]


@dataclass
class Prepared:
    """A checked campaign spec, ready to stream rows through."""

    spec: CampaignSpec
    plan: CampaignPlan
    checker: RowChecker


def prepare(spec: CampaignSpec, settings: Settings, *, base_dir: Path | None = None,
            suppression: Iterable[str] = ()) -> Prepared:
    """Every fatal check that does not need the rows: sender, template, send_at, opt-outs."""
    from dispatcher.producer import CampaignPlan

    settings.sender(spec.sender)
    region = spec.region or settings.default_region
    template = MessageTemplate(spec.interactive_block())
    numbers = set(normalize_numbers(suppression, region))
    if spec.suppression:
        path = _relative(spec.suppression, base_dir)
        numbers |= load_suppression_file(path, region)
    checker = RowChecker(template, region, numbers)
    plan = CampaignPlan(name=spec.name, sender=spec.sender, template=template, region=region,
                        send_at=spec.send_at_epoch(), auto_pause=spec.auto_pause_settings())
    return Prepared(spec, plan, checker)


def _relative(name: str, base_dir: Path | None) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() or base_dir is None else base_dir / path


def outcomes(checker: RowChecker, rows: Iterable[RowOrProblem]) -> Iterator[Outcome]:
    """Each row checked, in order (problems from the reader pass through)."""
    from dispatcher.producer import Suppressed

    for row in rows:
        if isinstance(row, Row):
            checked = checker.check(row)
            yield Suppressed(row.line) if checked is None else checked
        else:
            yield row


async def enqueue_campaign_file(
    store: JobStore | None, celery_app: Celery | None, settings: Settings, path: Path, *,
    recipients: Path | None = None, dry_run: bool = False,
    on_problem: Callable[[Problem], None] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> EnqueueSummary:
    """``dispatcher enqueue CAMPAIGN_FILE``. ``progress(rows, bytes read, file size)``."""
    from dispatcher.producer import produce

    spec = load_campaign_file(path)
    try:
        prepared = prepare(spec, settings, base_dir=path.parent)
    except FieldError as exc:
        if exc.where:
            raise
        raise FieldError(exc.path, exc.reason, str(path)) from None
    source = recipients or (_relative(spec.recipients, path.parent) if spec.recipients else None)
    if source is None:
        raise InputError(f"{path}: recipients: no recipients file (set `recipients:` or pass "
                         "--recipients FILE)")
    reader = RecipientFile(source, prepared.plan.template.variables
                           if prepared.plan.template else ())
    prepared.plan.source = str(source)

    def tick(rows: int) -> None:
        if progress is not None:
            progress(rows, reader.bytes_read, reader.size)

    with reader:
        return await produce(store, celery_app, settings, prepared.plan,
                             outcomes(prepared.checker, reader.rows()), dry_run=dry_run,
                             on_problem=on_problem, progress=tick)


async def create_campaign(
    template: Mapping[str, Any], rows: Iterable[Mapping[str, Any]], *, name: str,
    settings: Settings, sender: str = "default", store: JobStore | None = None,
    celery_app: Celery | None = None, send_at: datetime | str | None = None,
    suppression: Iterable[str] = (), region: str | None = None,
    auto_pause: Mapping[str, Any] | bool = True, dry_run: bool = False,
    on_problem: Callable[[Problem], None] | None = None, first_index: int = 1,
) -> EnqueueSummary:
    """Create (and start, or schedule) a campaign from a message template and recipient rows.

    ``template`` is the interactive block (or ``{"type": "interactive", "interactive": ...}``)
    with ``{{ placeholders }}`` in string values; each row is a mapping with ``to`` and the
    template's variables. Rows are numbered from ``first_index`` in problems. Without ``store``
    and ``celery_app`` the ones of ``settings`` are used (Redis at ``settings.redis_url``).
    """
    spec = spec_from_mapping({"name": name, "sender": sender, "message": dict(template),
                              "send_at": send_at, "region": region,
                              "auto_pause": auto_pause}, "campaign")
    prepared = prepare(spec, settings, suppression=suppression)
    variables = prepared.plan.template.variables if prepared.plan.template else ()
    prepared.plan.source = "api"
    stream = outcomes(prepared.checker, mapping_rows(rows, variables, start=first_index))
    if store is not None and celery_app is not None:
        return await _produce(store, celery_app, settings, prepared, stream, dry_run,
                              on_problem)
    from dispatcher.worker.app import make_celery

    client = aioredis.Redis.from_url(settings.redis_url)
    own_celery = make_celery(settings) if celery_app is None else None
    try:
        return await _produce(store or JobStore(client, settings.key_prefix),
                              celery_app or own_celery, settings, prepared, stream, dry_run,
                              on_problem)
    finally:
        await client.aclose()
        if own_celery is not None:
            own_celery.close()


async def _produce(store: JobStore, celery_app: Celery | None, settings: Settings,
                   prepared: Prepared, stream: Iterable[Outcome], dry_run: bool,
                   on_problem: Callable[[Problem], None] | None) -> EnqueueSummary:
    from dispatcher.producer import produce

    return await produce(store, celery_app, settings, prepared.plan, stream, dry_run=dry_run,
                         on_problem=on_problem)
