"""A pipeline recipe: the UltraFeedback data pipeline rather than a training run.

    generate:   instructions -> completions from a pool of models   (`align generate RECIPE`)
    annotate:   completions  -> fine-grained AI feedback            (`align annotate RECIPE`)

Either section may stand alone; a file with both runs them in that order, the annotate input
defaulting to the generate output. It is read by the same loader as training recipes (`base:`
inheritance, `key.path=value` overrides, errors naming the file and field).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from align.config.annotate import AnnotateConfig
from align.config.generate import GenerateConfig
from align.config.loader import load_validated, read_recipe_dict
from align.config.recipe import Section

SECTIONS = ("generate", "annotate")


class PipelineRecipe(Section):
    name: str
    description: str | None = None
    seed: int = Field(
        42, ge=0, description="Seeds the model/principle draws, sampling and the judge's shuffles."
    )
    generate: GenerateConfig | None = None
    annotate: AnnotateConfig | None = None

    @model_validator(mode="after")
    def _sections(self) -> PipelineRecipe:
        if self.generate is None and self.annotate is None:
            raise ValueError("a pipeline recipe needs a `generate:` or an `annotate:` section (or both)")
        if self.annotate is not None:
            if self.annotate.input is None and self.generate is not None:
                self.annotate.input = self.generate.output
            if self.annotate.input is None:
                raise ValueError("annotate.input is required when the recipe has no generate section")
            if self.annotate.output is None:
                raise ValueError("annotate.output is required: the JSONL file of annotated rows to write")
        return self


def is_pipeline(path: str | Path) -> bool:
    """A recipe file (with its `base:` chain) holding a generate or annotate section and no training method."""
    data = read_recipe_dict(path)
    return any(k in data for k in SECTIONS) and "method" not in data


def load_pipeline(path: str | Path, overrides: list[str] | None = None) -> PipelineRecipe:
    return load_validated(path, overrides, PipelineRecipe)
