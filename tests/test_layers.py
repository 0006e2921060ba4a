"""The import contract covers every package: one added to app/ but left out of the layers in
pyproject.toml would escape `lint-imports` (run by `make lint`)."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import app

ROOT = Path(__file__).resolve().parents[1]


def _layered_modules() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    return {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}


def test_every_module_of_app_is_in_a_layer() -> None:
    present = {f"app.{module.name}" for module in pkgutil.iter_modules(app.__path__)}
    assert present - _layered_modules() == set()


def test_every_layered_module_exists() -> None:
    present = {f"app.{module.name}" for module in pkgutil.iter_modules(app.__path__)}
    assert _layered_modules() - present == set()
