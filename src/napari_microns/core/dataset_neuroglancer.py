"""The Neuroglancer method of :class:`~.dataset.Dataset` (see ``core/neuroglancer/``)."""

from __future__ import annotations

from .errors import MicronsError


class NeuroglancerMixin:
    """:meth:`neuroglancer_state`: the chosen neurons, their synapses and the EM as a Neuroglancer state."""

    def neuroglancer_state(self, root_ids, synapses: str | None = "both", group_by: str = "direction",
                           colors: dict | None = None, position_um=None):
        """A :class:`~.neuroglancer.NeuroglancerState` (``.state``, ``.json()``, ``.url()``,
        ``.shorten(client)``) of ``root_ids``, built offline.

        The EM imagery and the segmentation (the dataset's own EM sources when it names them,
        else the version's flat segmentation, else the datastack's graphene one) with the
        neurons selected and coloured (``colors``: ``{root_id: '#rrggbb' or RGBA}``, default
        the napari-microns neuron colours); their synapses from the local store (``synapses``:
        ``"both"``, ``"inputs"``, ``"outputs"`` or None) as point layers grouped by
        ``"direction"`` or the partner's ``"cell_type"``, each point linked to the neuron and
        its partner; the camera at ``position_um`` (pia-aligned µm) or the first neuron's soma.
        """
        import numpy as np

        from .ids import parse_ids
        from .neuroglancer.build import GROUP_CHOICES, SYNAPSE_CHOICES, build_state, default_sources

        if synapses is not None and synapses not in SYNAPSE_CHOICES:
            raise MicronsError(f"synapses={synapses!r}: choose one of {', '.join(SYNAPSE_CHOICES)} or None")
        if group_by not in GROUP_CHOICES:
            raise MicronsError(f"group_by={group_by!r}: choose one of {', '.join(GROUP_CHOICES)}")
        ids = parse_ids(root_ids, where="root_ids", unique=True, allow_empty=False)
        image, segmentation = default_sources(self.version, self.datastack, self._client, *self._ng_em_specs())
        units = self.units_if_processed()
        rows = None
        if synapses is not None:
            pre = ids if synapses in ("both", "outputs") else None
            post = ids if synapses in ("both", "inputs") else None
            parts = [self.synapses(pre_ids=pre)] if pre is not None else []
            parts += [self.synapses(post_ids=post)] if post is not None else []
            import pandas as pd

            rows = pd.concat(parts, ignore_index=True).drop_duplicates("id") if parts else None
        position_vx = None
        if position_um is not None:
            from .transform import um_to_voxels

            position_vx = um_to_voxels(np.asarray(position_um, dtype=float))[0]
        return build_state(ids, image=image, segmentation=segmentation, synapses=rows, which=synapses,
                           group_by=group_by, units=units, colors=colors, position_vx=position_vx)

    def _ng_em_specs(self) -> tuple[str | None, str | None]:
        """The dataset's own EM sources (arguments or ``sources.json``) as given, ``"cave"`` for the
        defaults; not :meth:`em_sources`, which may ask CAVE: a state is built offline."""
        try:
            from .em import em_source_specs
        except ImportError:  # a core without EM sources
            return None, None
        return em_source_specs(self.layout, getattr(self, "image_source", None),
                               getattr(self, "segmentation_source", None))
