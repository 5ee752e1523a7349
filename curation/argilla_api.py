"""Every Argilla call that goes past the SDK's public classes: raw REST and private modules.

argilla 2.8 is feature-frozen upstream; what its public SDK lacks (response timestamps, a
dataset's distribution setting, a draft dataset, a plain record count, the key check without a
client) is done here, so an upgrade or a replacement of the server touches this one module.
Heavy imports stay inside the functions.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

from docs2qa.curation import schema
from docs2qa.curation.review_policy import ServerRecord, Vote
from docs2qa.errors import ServiceError

PAGE = 500


def check_api_key(url: str, api_key: str, timeout_s: float = 10.0) -> str:
    """Username the key belongs to; a clear ServiceError when the server or the key is wrong."""
    req = urllib.request.Request(f"{url.rstrip('/')}/api/v1/me", headers={"X-Argilla-Api-Key": api_key})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.load(resp)["username"]
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise ServiceError(
                f"Argilla at {url} rejected the API key (HTTP {exc.code})",
                "use the key shown by `docs2qa curate serve`, or the one in your Argilla user settings",
            ) from exc
        raise ServiceError(f"Argilla at {url} answered HTTP {exc.code} to /api/v1/me") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ServiceError(
            f"cannot reach Argilla at {url}: {getattr(exc, 'reason', exc)}",
            "is the server running? `docs2qa curate serve` starts a local one",
        ) from exc


def answers_as(url: str, api_key: str, username: str) -> bool:
    """Our server is up: it knows our owner's key (a stranger on the port would not)."""
    req = urllib.request.Request(f"{url}/api/v1/me", headers={"X-Argilla-Api-Key": api_key})
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return json.load(resp).get("username") == username
    except (OSError, ValueError):
        return False


def connect(api_url: str, api_key: str, timeout: int = 120):
    """An rg.Argilla client whose credentials were checked, or a ServiceError saying what to do."""
    import argilla as rg
    import httpx
    from argilla._exceptions import ArgillaCredentialsError, ArgillaError

    try:
        # retries=1: a dead server should fail in a second, not after five reconnect attempts.
        return rg.Argilla(api_url=api_url, api_key=api_key, timeout=timeout, retries=1)
    except ArgillaCredentialsError as exc:
        raise ServiceError(
            f"the Argilla server at {api_url} rejected the API key",
            "use the key printed by `docs2qa curate serve` (or set the variable named by curate.api_key_env)",
        ) from exc
    except (httpx.HTTPError, ArgillaError, OSError) as exc:
        raise ServiceError(
            f"cannot reach the Argilla server at {api_url}: {type(exc).__name__}: {exc}",
            "start it with `docs2qa curate serve`, or point curate.api_url / $ARGILLA_API_URL at your server",
        ) from exc


def api_error() -> type[Exception]:
    """The SDK's error for a request the server refused (its public name lives in a private module)."""
    from argilla._exceptions import ArgillaAPIError

    return ArgillaAPIError


def status_of(exc: Exception) -> int:
    """The HTTP status of an error the SDK raised (0 when it carries none)."""
    return int(getattr(exc, "status_code", 0) or 0)


# What argilla-server 2.8 answers with a 500 when two requests pass its existence check at once:
# the database's unique constraint stops the second (a workspace, dataset or record made twice),
# or, for two publishes of one draft, the search engine refuses the second's index.
_LOST_RACE_500 = ("IntegrityError", "resource_already_exists_exception")


def is_conflict(exc: Exception) -> bool:
    """The server refused to create something because it exists already: a 409, or a 500
    from a lost race (_LOST_RACE_500)."""
    status = status_of(exc)
    return status == 409 or (status == 500 and any(mark in str(exc) for mark in _LOST_RACE_500))


def _checked(response):
    """The response, or the SDK's error for its status (ConflictError for 409, ...), as the SDK's
    own calls raise: callers then handle one family of errors for raw and SDK requests alike."""
    from argilla._exceptions._api import api_error_handler

    api_error_handler(response.raise_for_status)()
    return response


def usernames(client) -> dict[str, str]:
    """user id -> username; empty when the key may not list users (an admin's), so ids stand in."""
    try:
        return {str(u.id): u.username for u in client.users}
    except api_error():
        return {}


def create_draft_dataset(client, name: str, workspace):
    """A new, unpublished dataset: the SDK creates and publishes in one go, and a killed push must
    leave something `ensure_dataset` can recognise and finish."""
    import argilla as rg
    from argilla._models import DatasetModel

    draft = client.api.datasets.create(DatasetModel(name=name, workspace_id=workspace.id))
    return rg.Dataset.from_model(draft, client)


def is_draft(dataset) -> bool:
    return dataset.api_model().status == "draft"


def set_guidelines(client, dataset_id, guidelines: str) -> None:
    _checked(client.http_client.patch(f"/api/v1/datasets/{dataset_id}", json={"guidelines": guidelines}))


def configure_and_publish(client, dataset_id, settings) -> None:
    """Guidelines, extra metadata and the overlap distribution (the SDK cannot set them on a
    draft), then publish."""
    _checked(
        client.http_client.patch(
            f"/api/v1/datasets/{dataset_id}",
            json={
                "guidelines": settings.guidelines,
                "allow_extra_metadata": settings.allow_extra_metadata,
                "distribution": {"strategy": "overlap", "min_submitted": settings.distribution.min_submitted},
            },
        )
    )
    client.api.datasets.publish(dataset_id=dataset_id)


def record_total(client, dataset_id) -> int:
    response = _checked(client.http_client.get(f"/api/v1/datasets/{dataset_id}/records", params={"limit": 1}))
    return int(response.json()["total"])


def bulk_upsert(client, dataset, records: list[dict]) -> None:
    """Create or update records keyed by their id, in one request (the server's limit: 500)."""
    from argilla import Record

    batch = [Record.from_dict(r, dataset=dataset).api_model() for r in records]
    client.api.records.bulk_upsert(dataset_id=dataset.id, records=batch)


def _records(client, dataset_id, include: str) -> Iterator[dict]:
    """Every record of the dataset as the REST API returns it, with `include`, page by page."""
    offset = 0
    while True:
        response = _checked(
            client.http_client.get(
                f"/api/v1/datasets/{dataset_id}/records",
                params={"offset": offset, "limit": PAGE, "include": [include]},
            )
        )
        items = response.json()["items"]
        yield from items
        if len(items) < PAGE:
            return
        offset += PAGE


def drop_suggestions(client, dataset_id) -> int:
    """Remove every suggestion in the dataset (an upsert without suggestions keeps the old ones);
    returns how many records had some."""
    cleared = 0
    for item in _records(client, dataset_id, "suggestions"):
        ids = [str(s["id"]) for s in item.get("suggestions") or []]
        if ids:
            _checked(
                client.http_client.delete(f"/api/v1/records/{item['id']}/suggestions", params={"ids": ",".join(ids)})
            )
            cleared += 1
    return cleared


def _value(values: dict, question: str):
    entry = (values or {}).get(question)
    return entry.get("value") if isinstance(entry, dict) else None


def server_records(client, dataset_id, usernames: dict[str, str]) -> list[ServerRecord]:
    """Every record with its responses, read page by page from the REST API: the SDK's
    response model drops the response timestamps that the `first` policy orders by."""
    out: list[ServerRecord] = []
    for item in _records(client, dataset_id, "responses"):
        fields, meta = item.get("fields") or {}, item.get("metadata") or {}
        votes = []
        for r in item.get("responses") or []:
            values = r.get("values") or {}
            rating = _value(values, schema.Q_QUALITY)
            votes.append(
                Vote(
                    user=usernames.get(str(r.get("user_id")), str(r.get("user_id"))),
                    status=r.get("status", ""),
                    label=_value(values, schema.Q_DECISION),
                    rating=int(rating) if rating is not None else None,
                    corrected_question=_value(values, schema.Q_CORRECTED_QUESTION) or "",
                    corrected_answer=_value(values, schema.Q_CORRECTED_ANSWER) or "",
                    comment=_value(values, schema.Q_COMMENT) or "",
                    at=str(r.get("updated_at") or r.get("inserted_at") or ""),
                )
            )
        out.append(
            ServerRecord(
                pair_id=str(item.get("external_id") or item["id"]),
                question=fields.get("question") or "",
                answer=fields.get("answer") or "",
                original_answer=fields.get("original_answer") or "",
                question_type=str(meta.get("question_type", "")),
                page_url=str(meta.get("page_url", "")),
                min_judge_score=int(meta.get("min_judge_score") or 0),
                votes=tuple(votes),
            )
        )
    return out


def set_distribution(client, dataset_id, min_submitted: int) -> None:
    """The overlap distribution of a published dataset: how many submitted responses complete a
    record (the SDK can only send it with every other setting); the server's worker then
    recomputes each record's status."""
    _checked(
        client.http_client.patch(
            f"/api/v1/datasets/{dataset_id}",
            json={"distribution": {"strategy": "overlap", "min_submitted": min_submitted}},
        )
    )


def set_password(client, user_id, password: str) -> None:
    """The SDK's User has no update; the REST API takes a new password from an owner."""
    _checked(client.http_client.patch(f"/api/v1/users/{user_id}", json={"password": password}))


def user_api_key(client, user_id) -> str:
    """A user's API key, which the SDK's User model leaves out; an owner may read it."""
    return str(_checked(client.http_client.get(f"/api/v1/users/{user_id}")).json()["api_key"])
