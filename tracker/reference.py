"""Reference data shipped with the tracker: the ICE ERO field offices."""

from __future__ import annotations

import csv
from importlib import resources
from typing import TypedDict


class FieldOfficeRow(TypedDict):
    code: str
    name: str
    time_zone: str


def field_offices() -> list[FieldOfficeRow]:
    text = resources.files("tracker").joinpath("data/field_offices.csv").read_text("utf-8")
    return [
        FieldOfficeRow(code=r["code"], name=r["name"], time_zone=r["time_zone"])
        for r in csv.DictReader(text.splitlines())
    ]
