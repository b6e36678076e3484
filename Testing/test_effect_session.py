"""The Segment Editor effect's preview session (slicer/effectsession.py), on plain objects: idle,
computing and previewing; Initialize, auto-update, a run's end, Apply and Cancel; the nodes it was
started on."""
import ast
import sys

import pytest

from UnsupervisedCTSegLib.slicer import effectsession
from UnsupervisedCTSegLib.slicer.effectsession import (COMPUTING, IDLE, NOTHING, PREVIEWING, QUEUED, RESTART, START,
                                                       EffectSession)


class Node:
    def __init__(self, name):
        self.name = name


SEGMENTATION, VOLUME, OTHER = Node("strokes"), Node("CT"), Node("other strokes")


def started(session, run="run 1", signature=("painted", 1)):
    assert session.request(SEGMENTATION, VOLUME) in (START, RESTART)
    session.started(SEGMENTATION, VOLUME, run, ["S1", "S2"], signature)
    return session


def test_a_new_session_is_idle_and_initialize_starts_a_run():
    session = EffectSession()
    assert session.state == IDLE and not session.canApply
    assert session.request(SEGMENTATION, VOLUME) == START
    session.started(SEGMENTATION, VOLUME, "run 1", ["S1", "S2"], ("painted", 1))
    assert session.state == COMPUTING and session.shows(SEGMENTATION, VOLUME)
    assert session.structureIDs == ("S1", "S2") and not session.canApply


def test_the_first_result_becomes_the_preview_and_apply_is_possible():
    session = started(EffectSession())
    assert session.ended("run 1", previewNode="preview") is False
    assert session.state == PREVIEWING and session.canApply and session.previewNode == "preview"


def test_a_first_run_without_result_leaves_the_session_idle():
    session = started(EffectSession())
    session.ended("run 1", previewNode=None)  # cancelled or failed
    assert session.state == IDLE and session.segmentationNode is None


def test_changed_strokes_ask_for_an_update_only_when_auto_update_is_on_and_they_really_changed():
    session = started(EffectSession())
    session.ended("run 1", previewNode="preview")
    assert session.strokesChanged(("painted", 1)) is False  # an opacity change: the same strokes
    assert session.strokesChanged(("painted", 2)) is True
    assert session.autoUpdateDue(("painted", 2)) == START
    session.autoUpdate = False
    assert session.strokesChanged(("painted", 3)) is False
    assert session.autoUpdateDue(("painted", 3)) == NOTHING
    assert EffectSession().strokesChanged(("painted", 3)) is False  # idle: nothing is observed


def test_an_update_during_a_run_is_queued_and_due_when_the_run_ends():
    session = started(EffectSession())
    assert session.autoUpdateDue(("painted", 2)) == QUEUED and session.pending
    assert session.state == COMPUTING
    assert session.ended("run 1", previewNode="preview") is True  # start the queued update now
    assert not session.pending and session.state == PREVIEWING
    session.started(SEGMENTATION, VOLUME, "run 2", ["S1", "S2"], ("painted", 2))
    assert session.state == COMPUTING and session.canApply  # the earlier preview can still be applied
    assert session.ended("run 2", previewNode=None) is False  # a failed update keeps the preview
    assert session.state == PREVIEWING and session.previewNode == "preview"


def test_pressing_update_during_a_run_queues_it():
    session = started(EffectSession())
    assert session.request(SEGMENTATION, VOLUME) == QUEUED
    assert session.ended("run 1", previewNode=None) is True  # even after a failure: the strokes may be fixed
    assert session.state == IDLE
    assert session.request(SEGMENTATION, VOLUME) == START


def test_an_old_run_ending_late_changes_nothing():
    session = started(EffectSession())
    session.ended("run 1", previewNode="preview")
    session.started(SEGMENTATION, VOLUME, "run 2", ["S1", "S2"], ("painted", 2))
    assert session.ended("run 1", previewNode="stale") is False
    assert session.run == "run 2" and session.previewNode == "preview"


def test_the_session_knows_the_nodes_it_was_started_on():
    session = started(EffectSession())
    assert session.shows(SEGMENTATION, VOLUME)
    assert not session.shows(OTHER, VOLUME)
    assert not session.shows(SEGMENTATION, Node("CT"))  # the same node, not a namesake
    assert session.request(OTHER, VOLUME) == RESTART


def test_apply_and_cancel_end_the_session_and_hand_back_what_to_undo():
    session = started(EffectSession())
    session.ended("run 1", previewNode="preview")
    session.opacity = 0.8
    session.started(SEGMENTATION, VOLUME, "run 2", ["S1", "S2"], ("painted", 2))
    assert session.finish() == ("run 2", "preview", SEGMENTATION, 0.8)
    assert session.state == IDLE and not session.canApply and session.segmentationNode is None
    assert session.finish() == (None, None, None, None)


def test_a_scene_close_discards_the_run_and_the_session():
    session = started(EffectSession())
    session.autoUpdateDue(("painted", 2))
    assert session.ended("run 1", previewNode=None, discard=True) is False
    assert session.state == IDLE and not session.pending


def test_the_status_lines_name_what_happened():
    assert "Apply" in effectsession.previewText("Done in 3 s on CPU: 3 labels.")
    assert "'strokes'" in effectsession.elsewhereText("strokes") and "'strokes'" in effectsession.droppedText("strokes")
    assert effectsession.appliedText(3).startswith("Wrote 3 structures") and "Undo" in effectsession.appliedText(3)
    assert "updated when this run ends" in effectsession.queuedText()


def test_the_session_module_needs_neither_qt_nor_the_scene_nor_torch():
    tree = ast.parse(open(effectsession.__file__, encoding="utf-8").read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names}
    assert imported == {"annotations"}  # from __future__ only


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
