"""moto's server, plus the Glue calls StockFeed needs that moto 5.2.5 lacks.

Why this file exists: moto 5.2.5 answers Glue `UpdateCrawler` with HTTP 500
(`NotImplementedError: The update_crawler action has not been implemented`). StockFeed's catalog
code updates a crawler in place when its schedule, role, targets or configuration change, as it
must on real AWS (deleting and re-creating a crawler would lose its crawl history and race a
running crawl). Rather than bend product code around a gap in the stand-in, this module adds
`update_crawler` to moto's Glue backend and response handler, written the same way moto writes
`create_crawler`, and then runs moto's own server `main()`.

What the added call does, following the Glue API reference for UpdateCrawler:
- only `Name` is required; every other field given replaces the stored one, fields not given
  are kept (an empty `Schedule` string removes the schedule);
- a crawler that is RUNNING or STOPPING is refused with `CrawlerRunningException` ("If a
  crawler is running, you must stop it using StopCrawler before updating it");
- an unknown name gives `EntityNotFoundException: Crawler <name> not found.`;
- `Version` goes up by one and `LastUpdated` is set, as GetCrawler shows on AWS.

It also makes moto's DeleteCrawler refuse a RUNNING or STOPPING crawler with
`CrawlerRunningException`, as AWS documents for DeleteCrawler; moto 5.2.5 deletes it silently,
which would hide the retry path of code that removes a crawler mid-crawl.

Started by hack/moto.sh as `python hack/moto/stockfeed_moto.py -H 127.0.0.1 -p PORT`; the
arguments are moto_server's. When a newer moto implements UpdateCrawler itself, the backend
method found there is kept and this module only starts the server.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from moto.core.responses import EmptyResult
from moto.core.utils import utcnow
from moto.glue import models as glue_models
from moto.glue import responses as glue_responses
from moto.glue.exceptions import CrawlerRunningException

# UpdateCrawler request field -> FakeCrawler attribute (the names create_crawler stores).
_UPDATABLE_FIELDS = {
    "Role": "role",
    "DatabaseName": "database_name",
    "Description": "description",
    "Targets": "targets",
    "Schedule": "schedule",
    "Classifiers": "classifiers",
    "TablePrefix": "table_prefix",
    "SchemaChangePolicy": "schema_change_policy",
    "RecrawlPolicy": "recrawl_policy",
    "LineageConfiguration": "lineage_configuration",
    "LakeFormationConfiguration": "lake_formation_configuration",
    "Configuration": "configuration",
    "CrawlerSecurityConfiguration": "crawler_security_configuration",
}


def _backend_update_crawler(
    self: glue_models.GlueBackend, name: str, fields: dict[str, Any]
) -> None:
    crawler = self.get_crawler(name)  # raises CrawlerNotFoundException (EntityNotFound)
    if crawler.status in ("RUNNING", "STOPPING"):
        raise CrawlerRunningException(
            f"Crawler with name {name} is {crawler.status}; it can be updated once READY "
            "(StopCrawler ends a crawl)"
        )
    for request_field, attribute in _UPDATABLE_FIELDS.items():
        if request_field in fields:
            setattr(crawler, attribute, fields[request_field])
    crawler.version += 1
    crawler.last_updated = utcnow()


def _guarded_delete_crawler(original: Any) -> Any:
    def delete_crawler(self: glue_models.GlueBackend, name: str) -> None:
        crawler = self.crawlers.get(name)
        if crawler is not None and crawler.status in ("RUNNING", "STOPPING"):
            raise CrawlerRunningException(
                f"Crawler with name {name} is {crawler.status}; it can be deleted once READY "
                "(StopCrawler ends a crawl)"
            )
        original(self, name)

    delete_crawler._stockfeed = True  # type: ignore[attr-defined]
    return delete_crawler


def _response_update_crawler(self: glue_responses.GlueResponse) -> EmptyResult:
    params = json.loads(self.body)
    name = params.get("Name")
    fields = {k: v for k, v in params.items() if k in _UPDATABLE_FIELDS}
    self.glue_backend.update_crawler(name, fields)
    return EmptyResult()


def install() -> None:
    """Adds the missing calls to moto's Glue classes (idempotent)."""
    if not hasattr(glue_models.GlueBackend, "update_crawler"):
        glue_models.GlueBackend.update_crawler = _backend_update_crawler  # type: ignore[attr-defined]
        glue_responses.GlueResponse.update_crawler = _response_update_crawler  # type: ignore[attr-defined]
    if not getattr(glue_models.GlueBackend.delete_crawler, "_stockfeed", False):
        glue_models.GlueBackend.delete_crawler = _guarded_delete_crawler(  # type: ignore[method-assign]
            glue_models.GlueBackend.delete_crawler
        )


install()

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
