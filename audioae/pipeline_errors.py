"""The exception of the inference layer: :class:`PipelineError`.

:mod:`audioae.pipeline` re-exports it (the CLI looks it up there): import it from there.
"""

from __future__ import annotations


class PipelineError(ValueError):
    """An operation the loaded model cannot do (e.g. sampling from a non-variational model)."""
