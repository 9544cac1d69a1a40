"""Small Qt building blocks the panels share: buttons, a row of them, a line of text, a folder field."""

from __future__ import annotations

from typing import Callable

from qtpy.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget


def button(text: str, clicked: Callable, tooltip: str = "", enabled: bool = True) -> QPushButton:
    b = QPushButton(text)
    b.clicked.connect(clicked)
    if tooltip:
        b.setToolTip(tooltip)
    b.setEnabled(enabled)
    return b


def row(*widgets: QWidget) -> QHBoxLayout:
    layout = QHBoxLayout()
    for widget in widgets:
        layout.addWidget(widget)
    return layout


def note(text: str = "", visible: bool = True, wrap: bool = False) -> QLabel:
    """A line of status or progress text."""
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setVisible(visible)
    return label


def compact(combo: QComboBox, chars: int = 8) -> QComboBox:
    """A combo box that asks for ``chars`` characters of width, not its longest item's (narrow docks)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(chars)
    return combo


def folder_field(parent: QWidget, placeholder: str, chosen: Callable[[str], None] | None = None) -> tuple[QLineEdit, QHBoxLayout]:
    """A data-folder field with a "…" button that opens a folder dialog; ``chosen(folder)`` after a choice.
    Returns ``(the line edit, its row)``."""
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)

    def browse():
        folder = QFileDialog.getExistingDirectory(parent, "MICrONS data folder", edit.text())
        if folder:
            edit.setText(folder)
            if chosen is not None:
                chosen(folder)

    pick = button("…", browse)
    pick.setFixedWidth(28)
    return edit, row(edit, pick)
