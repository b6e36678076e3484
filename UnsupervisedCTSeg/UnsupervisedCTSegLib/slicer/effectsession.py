"""The Segment Editor effect's bookkeeping: one preview session, from Initialize to Apply or Cancel.

Why a module of its own: the effect behaves like Slicer's auto-complete effects (Grow from seeds).
Initialize runs the scribble run and shows its result as a preview; while auto-update is on, every
change of the strokes starts a new run once the user pauses; Apply writes the preview into the
segments, Cancel drops it. Which of these may happen when, and on which nodes, is decided here,
without Qt, the scene or torch, so that it is tested on plain objects (Testing/test_effect_session.py);
the effect file only connects the buttons, the timers and the scene to it.

A session is in one of three states:

- idle: no preview and no run; nothing is observed.
- computing: a run is going (the first one, or an update); a preview of an earlier run may still
  be shown, and Apply writes that one (the update is then cancelled).
- previewing: a preview is shown and no run goes.

It remembers the segmentation and the source volume it was started on: a preview is written only
while the Segment Editor still shows both, since the editor's undo history belongs to the
segmentation it shows. An update asked for while a run goes is queued (not a second run, and not
a cancel: the queued run then starts from the first one's checkpoint); it starts as soon as the
run ends. The strokes are compared by a signature (editorwrite.strokesSignature), so that only a
change of the strokes (a segment's voxels, a segment added, removed, shown or hidden) asks for an
update, not the effect's own changes of opacity.
"""
from __future__ import annotations

IDLE, COMPUTING, PREVIEWING = "idle", "computing", "previewing"
START, QUEUED, RESTART, NOTHING = "start", "queued", "restart", "nothing"

AUTO_UPDATE_DELAY_MS = 800  # the strokes unchanged this long after a change: an update starts
PREVIEW_OPACITY = 0.6  # of the preview; the strokes' segmentation is shown at 1 - this meanwhile


def _untranslated(text: str) -> str:
    return text


class EffectSession:
    """The state of the effect's preview, the run that makes it and the nodes it was started on."""

    def __init__(self, autoUpdate: bool = True):
        self.autoUpdate = autoUpdate
        self._clear()

    def _clear(self) -> None:
        self.segmentationNode = None  # the editor's segmentation at the start: the strokes, and where Apply writes
        self.volumeNode = None  # the editor's source volume then
        self.run = None  # the run going, if any
        self.previewNode = None  # the preview segmentation, once a run has filled it
        self.structureIDs = ()  # the visible segments the newest run learned from, in order (structure i: index i - 1)
        self.signature = None  # the strokes as the newest run saw them
        self.pending = False  # an update was asked for while a run went
        self.opacity = None  # the segmentation's own opacity, to give back when the preview goes

    @property
    def state(self) -> str:
        if self.run is not None:
            return COMPUTING
        return PREVIEWING if self.previewNode is not None else IDLE

    @property
    def canApply(self) -> bool:
        return self.previewNode is not None

    def shows(self, segmentationNode, volumeNode) -> bool:
        """Whether the editor shows what the session was started on (the same nodes, not equal ones)."""
        return (self.segmentationNode is not None and segmentationNode is self.segmentationNode
                and volumeNode is self.volumeNode)

    def request(self, segmentationNode, volumeNode) -> str:
        """Initialize (or Update) was pressed while the editor shows these nodes. START: start a run;
        QUEUED: a run goes, the update starts when it ends; RESTART: the session is on other nodes:
        end it (finish) and start a new one on these."""
        if self.state == IDLE:
            return START
        if not self.shows(segmentationNode, volumeNode):
            return RESTART
        if self.run is not None:
            self.pending = True
            return QUEUED
        return START

    def started(self, segmentationNode, volumeNode, run, structureIDs, signature) -> None:
        """A run has started on these nodes with the strokes of these segments (their signature)."""
        if not self.shows(segmentationNode, volumeNode):
            self.segmentationNode, self.volumeNode = segmentationNode, volumeNode
        self.run, self.structureIDs, self.signature = run, tuple(structureIDs), signature
        self.pending = False

    def strokesChanged(self, signature) -> bool:
        """The observed segmentation changed: whether to (re)start the auto-update timer."""
        return self.autoUpdate and self.state != IDLE and signature != self.signature

    def autoUpdateDue(self, signature) -> str:
        """The auto-update timer fired: START a run now, QUEUED after the one going, or NOTHING (auto-update
        is off, the session has ended, or the strokes are as the newest run saw them)."""
        if not self.autoUpdate or self.state == IDLE or signature == self.signature:
            return NOTHING
        if self.run is not None:
            self.pending = True
            return QUEUED
        return START

    def ended(self, run, previewNode=None, discard: bool = False) -> bool:
        """`run` has ended; `previewNode` holds its result now (None: it gave none, an earlier preview
        stays). With `discard` (the scene was closed) the session ends. Returns whether a queued
        update is due now."""
        if run is not self.run:
            return False
        self.run = None
        if discard:
            self._clear()
            return False
        if previewNode is not None:
            self.previewNode = previewNode
        due, self.pending = self.pending, False
        if self.previewNode is None and not due:
            self._clear()  # the first run gave nothing: back to idle
        return due

    def finish(self) -> tuple:
        """Apply or Cancel: the session ends. Returns (the run going or None, to cancel; the preview node
        or None, to remove; the segmentation and its opacity before the preview, to give back)."""
        ending = (self.run, self.previewNode, self.segmentationNode, self.opacity)
        self._clear()
        return ending


# --- the status line -----------------------------------------------------------------------------


def previewText(status: str, tr=_untranslated) -> str:
    """After a run whose result is shown as the preview."""
    return tr("{status} Preview shown: Apply writes it into the segments, Cancel drops it.").format(status=status)


def queuedText(tr=_untranslated) -> str:
    return tr("The strokes changed: the preview is updated when this run ends.")


def elsewhereText(segmentationName: str, tr=_untranslated) -> str:
    """Apply (or a run's end) while the editor shows another segmentation or source volume than the
    session's: the undo history belongs to the one it shows, so nothing is written."""
    return tr("Not written: the Segment Editor now shows another segmentation or source volume. Select "
              "'{name}' and its source volume again to apply the preview, or press Cancel.").format(
                  name=segmentationName)


def droppedText(segmentationName: str, tr=_untranslated) -> str:
    """A run ended while the editor shows another segmentation or source volume than the session's."""
    return tr("Finished, but the Segment Editor now shows another segmentation or source volume: the result was "
              "dropped. Select '{name}' and its source volume again and press Initialize.").format(
                  name=segmentationName)


def notUpdatedText(segmentationName: str, tr=_untranslated) -> str:
    """An update is due while the editor shows another segmentation or source volume than the session's."""
    return tr("The strokes of '{name}' changed, but the Segment Editor now shows another segmentation or source "
              "volume: the preview is updated once '{name}' is shown again and Update is pressed.").format(
                  name=segmentationName)


def appliedText(count: int, tr=_untranslated) -> str:
    return tr("Wrote {count} structures into the segments; Undo brings the strokes back.").format(count=count)


def cancelledText(tr=_untranslated) -> str:
    return tr("Preview dropped; the segments were left as they were.")
