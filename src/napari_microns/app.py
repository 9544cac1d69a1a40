"""What the ``demo``, ``view`` and ``figure`` commands do, callable from Python too."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .core.dataset import Dataset
    from .core.units import ProcessedTables


#: Window size used for figures (the canvas is a little smaller).
FIGURE_WINDOW = (1400, 1000)


def build_scene(viewer, dataset, root_ids: Sequence[int] = (), color_by: str = "cell_type",
                skeleton: bool = True, mesh: bool = False, synapses: bool = False,
                camera: str = "pia_up", dock: bool = False, tables: ProcessedTables | None = None,
                fit: str = "all"):
    """Units, layer planes and the chosen neurons of ``dataset`` in ``viewer`` (the scene fades
    the units when neurons are shown).

    ``dock``: with the MICrONS dock widget, whose panels follow the scene. ``tables``: the
    dataset's processed tables when already read (:func:`open_processed`), so they are read once.
    ``fit``: ``all`` (the camera preset's view of everything) or ``neurons`` (framed on them).
    Returns ``(scene, errors)``; errors are one-line messages of neurons that
    could not be shown (the rest is shown).
    """
    from .camera import frame_layers, set_camera
    from .fetching import FETCH_KINDS
    from .scene import Scene

    scene = add_dock_widget(viewer).scene if dock else Scene(viewer)
    scene.load(dataset, color_by=color_by, camera=None, tables=tables)
    scene.choose(root_ids)
    kinds = [k for k, on in zip(FETCH_KINDS, (skeleton, mesh, synapses)) if on]
    errors = scene.fetch_now(scene.chosen, kinds) if root_ids and kinds else []
    set_camera(viewer, camera)
    if fit == "neurons" and scene.neuron_layers():
        frame_layers(viewer, scene.neuron_layers())
    return scene, errors


def add_dock_widget(viewer):
    """The plugin's dock widget, added through napari's plugin machinery."""
    _, widget = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    return widget


def _viewer(show: bool = True):
    import napari

    viewer = napari.Viewer(title="napari-microns", show=show)
    viewer.window.resize(*FIGURE_WINDOW)
    return viewer


def _report(errors: Sequence[str]) -> None:
    """Each message once, on stderr (not also through logging, which printed it twice)."""
    for message in errors:
        print(f"warning: {message}", file=sys.stderr)


def _refuse_incomplete(errors: Sequence[str], out) -> None:
    """A figure that lacks a neuron asked for is not written: one ``error:`` line, each message once."""
    from .core.errors import IncompleteError

    if not errors:
        return
    shown = "; ".join(errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
    raise IncompleteError(f"{out} not written: {len(errors)} of the pieces asked for could not be shown ({shown}); "
                          "rerun without those root ids, or with what they need (a token, synapses downloaded)")


def demo(screenshot: str | Path | None = None, sample_dir: str | Path | None = None,
         camera: str = "pia_up", movie: str | Path | None = None) -> Path | None:
    """napari on the synthetic sample: units by cell type, layer planes, a few neurons
    with skeletons, meshes and synapses. With ``screenshot`` (or ``movie``) it renders
    to a file and quits, without a window (Xvfb when there is no display)."""
    from .core.dataset import Dataset
    from .sample import make_sample

    if screenshot is None and movie is None:
        from .display import require_display

        require_display()
    print("preparing the synthetic sample (generated locally; not real MICrONS data)…")
    info = make_sample(sample_dir)
    dataset = Dataset(info.datadir, version=info.version)
    print(f"sample: {dataset.layout.root}")
    return _show(dataset, list(info.root_ids), "cell_type", mesh=True, synapses=True, out=screenshot,
                 camera=camera, movie=movie)


def open_processed(datadir, version: int) -> tuple[Dataset, ProcessedTables]:
    """The dataset and its units and cortical layers, read once: this fails early, in one
    line, when the folder is not processed (before any window opens)."""
    from .core.dataset import Dataset
    from .core.units import load_processed

    dataset = Dataset(datadir, version=version)
    return dataset, load_processed(dataset.layout.units_path)


def view(datadir, version: int, root_ids: Sequence[int] = (), color_by: str = "cell_type") -> None:
    """napari on a processed data folder, with the MICrONS dock widget."""
    from .display import require_display

    dataset, tables = open_processed(datadir, version)  # a folder that is not processed says so first
    _check_stale(dataset, root_ids)
    require_display()
    _show(dataset, list(root_ids), color_by, mesh=False, synapses=False, out=None, tables=tables)


def figure(datadir, version: int, out: str | Path, root_ids: Sequence[int] = (), color_by: str = "cell_type",
           mesh: bool = False, synapses: bool = False, camera: str = "pia_up",
           movie: str | Path | None = None, *, width: int | None = None, height: int | None = None,
           scale: float | None = None, dpi: float | None = None, background: str = "black",
           title: str | None = None, frames: int | None = None, fps: float | None = None,
           seconds: float | None = None, fit: str = "all") -> Path:
    """Render a figure of a processed data folder to ``out`` (.png, .jpg/.jpeg, .tif/.tiff by
    its extension), without a window; ``movie``: also a turntable with the legend burnt in.

    ``width``/``height`` (canvas pixels) or ``scale`` (times the screen's), ``dpi`` (file
    metadata), ``background`` (black, white, transparent: PNG/TIFF only), ``title`` (legend);
    two of ``frames``, ``fps``, ``seconds`` for the movie; ``fit``: ``all`` (default) or
    ``neurons`` (the camera framed on the neurons shown). All checked before any work."""
    from .output import check_fit, check_image_options, movie_timing

    options = check_image_options(out, width=width, height=height, scale=scale, dpi=dpi,
                                  background=background, movie=movie)
    timing = movie_timing(frames, fps, seconds)
    check_fit(fit, root_ids)
    dataset, tables = open_processed(datadir, version)
    _check_stale(dataset, root_ids)
    return _show(dataset, list(root_ids), color_by, mesh=mesh, synapses=synapses, out=out, camera=camera,
                 movie=movie, strict=True, tables=tables, options=options, title=title, timing=timing, fit=fit)


def _check_stale(dataset, root_ids) -> None:
    """Refuse, in one line, root ids edited since (a unit's root at another processed version
    whose nucleus is now on another root id), naming the ids to use; before any window opens."""
    from .core.roots import check_root_ids

    if root_ids:
        check_root_ids(dataset, list(root_ids), "--root-ids")


def _show(dataset, root_ids, color_by, mesh, synapses, out, camera="pia_up", movie=None, strict=False,
          tables=None, options=None, title=None, timing=(None, None), fit="all"):
    """``strict``: a piece that could not be shown fails the whole figure (nothing written)."""
    from .display import display_available
    from .figure import figure_title, screenshot_figure, turntable
    from .output import ImageOptions

    options = options or ImageOptions()

    if out is None and movie is None:
        import napari

        viewer = _viewer(show=True)
        _scene, errors = build_scene(viewer, dataset, root_ids, color_by, mesh=mesh, synapses=synapses,
                                     camera=camera, dock=True, tables=tables)
        _report(errors)
        napari.run()
        return None
    with display_available():
        viewer = _viewer(show=True)
        try:
            scene, errors = build_scene(viewer, dataset, root_ids, color_by, mesh=mesh, synapses=synapses,
                                        camera=camera, tables=tables, fit=fit)
            if strict:
                _refuse_incomplete(errors, out if out is not None else movie)
            _report(errors)
            written = None
            if out is not None:
                written = screenshot_figure(scene, out, title=figure_title(dataset, color_by, title),
                                            width=size[1] if (size := options.size) else None,
                                            height=size[0] if size else None, scale=options.scale,
                                            dpi=options.dpi, background=options.background)
                print(f"wrote {written}")
            if movie is not None:
                written_movie = turntable(viewer, movie, *timing, scene=scene, options=options,
                                          title=figure_title(dataset, color_by, title))
                print(f"wrote {written_movie}")
                written = written or written_movie
            return written
        finally:
            viewer.close()


__all__ = ["add_dock_widget", "build_scene", "demo", "figure", "open_processed", "view"]
