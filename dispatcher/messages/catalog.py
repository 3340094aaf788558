"""Catalog cards: ``product``, ``product_list`` and ``catalog_message``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from dispatcher.messages.common import (
    Body,
    Footer,
    NonEmptyStr,
    Problems,
    SectionTitle,
    StrictModel,
)
from dispatcher.messages.headers import NO_HEADER, TextOnlyHeader, no_header

__all__ = [
    "CatalogAction",
    "CatalogMessage",
    "CatalogParameters",
    "ProductAction",
    "ProductItem",
    "ProductListAction",
    "ProductListMessage",
    "ProductMessage",
    "ProductSection",
]

MAX_PRODUCT_ITEMS = 30

# --- product: one product card ------------------------------------------------------------------


class ProductAction(StrictModel):
    catalog_id: NonEmptyStr
    product_retailer_id: NonEmptyStr


class ProductMessage(StrictModel):
    """A single product. The only type whose body is optional."""

    type: Literal["product"]
    header: Annotated[None, no_header("product")] = NO_HEADER
    body: Body | None = None
    footer: Footer | None = None
    action: ProductAction


# --- product_list: up to 30 products in sections ------------------------------------------------


class ProductItem(StrictModel):
    product_retailer_id: NonEmptyStr


class ProductSection(StrictModel):
    title: SectionTitle | None = None
    product_items: Annotated[list[ProductItem], Field(min_length=1)]


class ProductListAction(StrictModel):
    catalog_id: NonEmptyStr
    sections: Annotated[list[ProductSection], Field(min_length=1, max_length=10)]

    @field_validator("sections")
    @classmethod
    def _items_and_titles(cls, sections: list[ProductSection]) -> list[ProductSection]:
        """At most 30 items in total; every section titled when there is more than one."""
        problems = Problems("ProductListAction")
        total = sum(len(section.product_items) for section in sections)
        if total > MAX_PRODUCT_ITEMS:
            message = f"at most {MAX_PRODUCT_ITEMS} product items in total, got {total}"
            problems.add((), "too_many_items", message)
        if len(sections) > 1:
            for index, section in enumerate(sections):
                if section.title is None:
                    message = "a section title is required when there is more than one section"
                    problems.add((index, "title"), "section_title_required", message)
        problems.raise_if_any()
        return sections


class ProductListMessage(StrictModel):
    """Several products. Its header is required, and text only."""

    type: Literal["product_list"]
    header: TextOnlyHeader
    body: Body
    footer: Footer | None = None
    action: ProductListAction


# --- catalog_message: the whole catalog ---------------------------------------------------------


class CatalogParameters(StrictModel):
    thumbnail_product_retailer_id: NonEmptyStr | None = None


class CatalogAction(StrictModel):
    name: Literal["catalog_message"]
    parameters: CatalogParameters | None = None


class CatalogMessage(StrictModel):
    """The business's catalog; the provider draws the header itself, so none is allowed."""

    type: Literal["catalog_message"]
    header: Annotated[None, no_header("catalog_message")] = NO_HEADER
    body: Body
    footer: Footer | None = None
    action: CatalogAction
