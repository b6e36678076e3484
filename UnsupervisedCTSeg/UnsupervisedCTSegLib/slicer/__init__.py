"""The Slicer adapter, testable without the application: the logic that turns volume nodes into
engine volumes and results into segmentation, labelmap, table and chart nodes on an MRML scene; the
child-process runner the panel segments with; the panel's parameter table made from the engine's
Settings, its words, its widget binding, its run bookkeeping, what a scene close and the exit end
(lifecycle), the wait cursor and views (views), the Segment Editor effect's preview session
(effectsession) and its reading and writing of segments (editorwrite), the install flow and the
sample data;
and the module's self-tests, which pytest runs on a slicer-core scene. The module file next to the
package (UnsupervisedCTSeg.py) keeps only the Qt panel.
"""
