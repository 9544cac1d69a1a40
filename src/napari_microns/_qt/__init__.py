"""The Qt front-end of napari-microns: the dock widget and its panels.

:class:`~.dock_widget.MicronsWidget` composes one panel per job over one
:class:`~napari_microns.scene.Scene`: :mod:`.data_panel` (where units come
from), :mod:`.units_panel` (colour-by, filters, legend), :mod:`.neurons_panel`
(choosing and fetching neurons, with :mod:`.units_table`) and
:mod:`.figure_panel` (camera, figure, movie). Panels call the scene's methods
and follow its events; they hold no data logic.
"""
