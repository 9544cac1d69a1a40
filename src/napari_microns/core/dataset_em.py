"""The EM methods of :class:`~.dataset.Dataset` (cutouts of imagery and segmentation, and
their sources), kept apart so each class stays small."""

from __future__ import annotations

import numpy as np


class EmMixin:
    """EM methods of :class:`~.dataset.Dataset` (see :mod:`napari_microns.core.em`)."""

    def _em_remote(self):
        if getattr(self, "_em_remote_obj", None) is None:
            from .morphology.remote import Remote

            self._em_remote_obj = Remote(lambda: self.client, self.version, self.datastack,
                                         known_client=lambda: self._client, retry=self.retry)
        return self._em_remote_obj

    def _em_specs(self) -> tuple[str, str]:
        from .em import em_source_specs

        return em_source_specs(self.layout, getattr(self, "image_source", None),
                               getattr(self, "segmentation_source", None))

    def em_sources(self):
        """Where EM imagery and segmentation come from: an :class:`~.em.EmSources` of resolved
        cloud-volume paths (``"cave"`` asks the datastack, see :mod:`.em.sources`)."""
        from .em import EmSources
        from .em.sources import resolve_image, resolve_segmentation

        image_spec, seg_spec = self._em_specs()
        remote = self._em_remote()
        return EmSources(resolve_image(image_spec, lambda: remote.client()),
                         resolve_segmentation(seg_spec, self.version, lambda: remote.client()))

    def _em_center(self, center, synapse_id, root_id) -> tuple[float, float, float]:
        from .errors import DataError, NotFoundError
        from .ids import parse_id

        given = [name for name, v in (("center", center), ("synapse_id", synapse_id), ("root_id", root_id))
                 if v is not None]
        if len(given) != 1:
            raise DataError(f"give exactly one of center, synapse_id or root_id, not {', '.join(given) or 'none'}")
        if center is not None:
            from .em.cutout import check_center

            return check_center(center)
        if root_id is not None:
            rid = parse_id(root_id, "root id")
            units = self.units_if_processed()
            if units is None:
                raise DataError(f"no processed units in {self.layout.processed_dir}; run process() first "
                                "to centre a cutout on a soma")
            rows = units[units["pt_root_id"] == rid]
            if rows.empty:
                raise NotFoundError(f"root id {rid} is not in the units table of version {self.version}; "
                                    "centre on a soma from that table, or pass center=(x, y, z) in µm")
            pos = rows[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy(np.float64)[0]
            return tuple(float(v) for v in pos)
        from .synapses import synapse_row

        return synapse_row(self.synapse_store, synapse_id)["center"]

    def em_cutout(self, center=None, *, synapse_id=None, root_id=None, size_um: float = 10.0, z_sections: int = 1,
                  mip: int | None = None, segmentation: bool = True, root_ids=None, max_pixels: int = 1024):
        """A :class:`~.em.Cutout` of EM imagery (and root-id segmentation) around one point.

        Exactly one of ``center`` (x, y, z in pia-aligned µm), ``synapse_id`` (its ``ctr_pt``
        position in the local synapse store) or ``root_id`` (its soma in the units table).
        ``size_um``: the side of the square in x/y; ``z_sections``: how many 40 nm sections
        (1: the section through the centre); ``mip=None``: the finest mip whose x/y pixel
        count is <= ``max_pixels``; ``root_ids``: a bool mask per id. Cached on disk: a second
        identical request needs no network.
        """
        from .em.cutout import CutoutRequest, make_cutout

        req = CutoutRequest(self._em_center(center, synapse_id, root_id), size_um=size_um, z_sections=z_sections,
                            mip=mip, segmentation=segmentation, root_ids=root_ids, max_pixels=max_pixels)
        image_spec, seg_spec = self._em_specs()
        return make_cutout(req, layout=self.layout, datastack=self.datastack, version=self.version,
                           remote=self._em_remote(), image_spec=image_spec, seg_spec=seg_spec)
