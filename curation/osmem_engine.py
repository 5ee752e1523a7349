"""argilla-server search engine for osmem, the in-memory OpenSearch-API server.

Runs inside the Argilla service venv (imported by launch_server.py), never in docs2qa's
own environment, so it imports argilla_server and nothing from docs2qa.

osmem speaks the OpenSearch API but has no scripting and no k-NN plugin. The stock
OpenSearch engine needs both: painless scripts when a response is submitted, edited or
deleted (or a suggestion removed), and a `knn` query for similarity search. This
subclass swaps those for read-modify-write under optimistic concurrency and a
brute-force cosine scan.

osmem has no authentication either, so it runs in a private network namespace and is
reached only through the Unix socket named by $DOCS2QA_SEARCH_SOCKET (private_search.py);
this engine's client connects through that socket instead of TCP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any
from uuid import UUID

import aiohttp
from argilla_server.models import VectorSettings
from argilla_server.search_engine.base import SearchEngine
from argilla_server.search_engine.commons import (
    es_bool_query,
    es_field_for_vector_settings,
    es_ids_query,
    es_index_name_for_dataset,
)
from argilla_server.search_engine.opensearch import OpenSearchEngine
from opensearchpy import AIOHttpConnection
from opensearchpy._async.http_aiohttp import OpenSearchClientResponse
from opensearchpy.exceptions import ConflictError

ENGINE_NAME = "osmem"
MAX_CONFLICT_RETRIES = 20
SCAN_PAGE_SIZE = 500


class UnixSocketConnection(AIOHttpConnection):
    """opensearch-py's aiohttp connection, over the private Unix socket instead of TCP
    (the same session settings as AIOHttpConnection._create_aiohttp_session)."""

    async def _create_aiohttp_session(self):
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        self.session = aiohttp.ClientSession(
            headers=self.headers,
            skip_auto_headers=("accept", "accept-encoding"),
            auto_decompress=True,
            loop=self.loop,
            cookie_jar=aiohttp.DummyCookieJar(),
            response_class=OpenSearchClientResponse,
            connector=aiohttp.UnixConnector(path=os.environ["DOCS2QA_SEARCH_SOCKET"], limit=self._limit),
        )


@SearchEngine.register(engine_name=ENGINE_NAME)
@dataclasses.dataclass
class OsmemSearchEngine(OpenSearchEngine):
    def __post_init__(self):
        self.config = {**self.config, "connection_class": UnixSocketConnection}
        super().__post_init__()

    async def update_record_response(self, response) -> None:
        record = response.record
        es_response = self._map_record_response_to_es(response)

        def upsert(source: dict) -> None:
            kept = [r for r in source.get("responses") or [] if str(r.get("id")) != str(response.id)]
            source["responses"] = [*kept, es_response]

        await self._read_modify_write(es_index_name_for_dataset(record.dataset), str(record.id), upsert)

    async def delete_record_response(self, response) -> None:
        record = response.record

        def remove(source: dict) -> None:
            if source.get("responses") is not None:
                source["responses"] = [r for r in source["responses"] if str(r.get("id")) != str(response.id)]

        await self._read_modify_write(es_index_name_for_dataset(record.dataset), str(record.id), remove)

    async def delete_record_suggestion(self, suggestion) -> None:
        name = suggestion.question.name

        def remove(source: dict) -> None:
            (source.get("suggestions") or {}).pop(name, None)

        index = es_index_name_for_dataset(suggestion.record.dataset)
        await self._read_modify_write(index, str(suggestion.record_id), remove)

    async def _read_modify_write(self, index: str, doc_id: str, change: Callable[[dict], None]) -> None:
        # Two annotators submitting on one record race here; the seq_no guard turns a lost
        # update into a conflict, and the retry re-reads the winner's version.
        for _ in range(MAX_CONFLICT_RETRIES):
            doc = await self.client.get(index=index, id=doc_id)
            source = doc["_source"]
            change(source)
            try:
                await self.client.index(
                    index=index,
                    id=doc_id,
                    body=source,
                    if_seq_no=doc["_seq_no"],
                    if_primary_term=doc["_primary_term"],
                    refresh=True,
                )
                return
            except ConflictError:
                continue
        raise RuntimeError(f"record {doc_id} in {index} kept changing; gave up after {MAX_CONFLICT_RETRIES} tries")

    async def _request_similarity_search(
        self,
        index: str,
        vector_settings: VectorSettings,
        value: list[float],
        k: int,
        excluded_id: UUID | None = None,
        query_filters: list[dict] | None = None,
    ) -> dict:
        field = es_field_for_vector_settings(vector_settings)
        must_not = [es_ids_query([str(excluded_id)])] if excluded_id else []
        filters = query_filters or []
        query = (
            es_bool_query(should=filters, minimum_should_match=len(filters), must_not=must_not)
            if (filters or must_not)
            else {"match_all": {}}
        )

        scored = []
        async for hit in self._scan(index, query, source=[field]):
            vector = _get_path(hit.get("_source") or {}, field)
            if vector:
                scored.append((_cosinesimil_score(value, vector), hit["_id"]))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        hits = [{"_id": doc_id, "_score": score} for score, doc_id in scored[:k]]
        return {"hits": {"hits": hits, "total": {"value": len(hits), "relation": "eq"}}}

    async def _scan(self, index: str, query: dict, source: list[str]):
        """Every matching document, paged with search_after so no result window caps it."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"query": query, "sort": [{"id": "asc"}], "size": SCAN_PAGE_SIZE}
            if after is not None:
                body["search_after"] = after
            page = await self.client.search(index=index, body=body, _source=source)
            hits = page["hits"]["hits"]
            for hit in hits:
                yield hit
            if len(hits) < SCAN_PAGE_SIZE:
                return
            after = hits[-1]["sort"]


def _get_path(source: dict, dotted: str) -> Any:
    node: Any = source
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _cosinesimil_score(a: list[float], b: list[float]) -> float:
    # OpenSearch's cosinesimil space reports (1 + cos) / 2, so scores (and the
    # thresholds clients pass) keep the meaning they have on a real cluster.
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    cos = dot / norm if norm else 0.0
    return (1.0 + cos) / 2.0
