"""Neuroglancer states out and in: :func:`build_state` / :class:`NeuroglancerState` (the chosen
neurons, their synapses and the EM, built offline with nglui) and :func:`parse_neuroglancer`
(the neurons, points and camera of a link, state, file or CAVE short link)."""

from .build import (DEFAULT_BASE, EM_IMAGE_SOURCE, FLAT_SEGMENTATIONS, GRAPHENE_SEGMENTATION, NeuroglancerState,
                    build_state, default_sources)
from .parse import ParsedState, load_state, parse_neuroglancer

__all__ = ["DEFAULT_BASE", "EM_IMAGE_SOURCE", "FLAT_SEGMENTATIONS", "GRAPHENE_SEGMENTATION", "NeuroglancerState",
           "ParsedState", "build_state", "default_sources", "load_state", "parse_neuroglancer"]
