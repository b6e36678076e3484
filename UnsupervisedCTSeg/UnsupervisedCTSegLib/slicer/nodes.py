"""Volume nodes and voxels: what the engine may segment, a node's voxels and grid as numpy and back.

Why a module of its own: logic.py (runs), segments.py (scene import and export) and consistency.py
all read or write voxels on a node's grid; the conversion between Slicer's IJKToRAS and the
engine's Volume (LPS, volume.py) is done here once, so every output lies exactly on its CT.
Uses only the MRML/VTK API that the slicer-core package also provides.
"""
from __future__ import annotations

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..engine.errors import InputError
from ..engine.volume import Grid, Volume, geometry_from_ijk_to_ras


def checkVolumeNode(volumeNode) -> None:
    """Refuse nodes the engine cannot segment, each with a one-line message naming problem and fix."""
    if volumeNode is None:
        raise InputError("no input volume: select an input volume")
    name = volumeNode.GetName() if hasattr(volumeNode, "GetName") else str(volumeNode)
    if hasattr(slicer, "vtkMRMLSequenceNode") and isinstance(volumeNode, slicer.vtkMRMLSequenceNode):
        raise InputError(f"'{name}' is a 4D sequence: select the sequence's proxy volume "
                         "(one time point) instead")
    if not isinstance(volumeNode, slicer.vtkMRMLVolumeNode):
        raise InputError(f"'{name}' is a {volumeNode.GetClassName()}, not a volume: select a CT volume")
    if isinstance(volumeNode, slicer.vtkMRMLLabelMapVolumeNode):
        raise InputError(f"'{name}' is a labelmap: choose a scalar CT volume, not a labelmap")
    image = volumeNode.GetImageData()
    if isinstance(volumeNode, slicer.vtkMRMLVectorVolumeNode) or (
            image is not None and image.GetNumberOfScalarComponents() > 1):
        components = image.GetNumberOfScalarComponents() if image is not None else "several"
        raise InputError(f"'{name}' has {components} components per voxel (RGB colour, vector or multi-frame "
                         "4D data): choose a single-component scalar CT volume, or extract one frame")
    if image is None or image.GetPointData() is None or image.GetPointData().GetScalars() is None:
        raise InputError(f"'{name}' has no image data: load the CT's voxels into it or select another volume")
    if image.GetNumberOfPoints() == 0 or min(image.GetDimensions()) < 1:
        raise InputError(f"'{name}' is an empty image (0 voxels): select a volume that has voxels")


def volumeNodeFromVolume(scene, volume: Volume, name: str):
    """A scalar volume node holding `volume` on its grid: the inverse of volumeFromNode.

    Whole HU in int16 range are stored as int16 (as CT scanners do), others as float32.
    """
    hu = volume.hu
    whole = hu.size and hu.min() >= -32768 and hu.max() <= 32767 and np.array_equal(hu, np.round(hu))
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    _setVoxelsAndGeometry(node, hu.astype(np.int16) if whole else hu.astype(np.float32), volume)
    node.CreateDefaultDisplayNodes()
    return node



def _dimensions(volumeNode) -> tuple:
    """(nx, ny, nz) of the node's image data."""
    return tuple(volumeNode.GetImageData().GetDimensions())


def _ijkToRAS(node) -> np.ndarray:
    """The node's IJKToRAS as a numpy 4x4."""
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _setIJKToRAS(node, ijkToRAS: np.ndarray) -> None:
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(ijkToRAS[r, c]))
    node.SetIJKToRASMatrix(matrix)


def _imageArray(node) -> np.ndarray:
    """The node's voxels as a (z, y, x) numpy view of the VTK buffer (no copy: do not keep it)."""
    image = node.GetImageData()
    nx, ny, nz = image.GetDimensions()
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(nz, ny, nx)


def _volumeFromNode(volumeNode, start: int, stop: int) -> Volume:
    """Slices start..stop-1 of a checked node as a Volume that owns its voxels.

    The voxels are copied, because the engine may run in a worker thread while the user changes or
    deletes the node. The grid is the node's IJKToRAS, with voxel (0, 0, start) of the image
    extent as origin.
    """
    view = _imageArray(volumeNode)[start:stop]
    hu = view.copy() if view.dtype == np.float32 else view  # other types are copied by the conversion
    grid = _gridOf(volumeNode, start, stop)
    return Volume(hu, grid.spacing, grid.origin, grid.direction, source=grid.source)


def _gridOf(volumeNode, start: int, stop: int) -> Grid:
    """The grid of slices start..stop-1 of the node: its IJKToRAS, with voxel (0, 0, start) of the
    image extent as origin."""
    ijkToRAS = _ijkToRAS(volumeNode)
    i0, _, j0, _, k0, _ = volumeNode.GetImageData().GetExtent()
    ijkToRAS[:3, 3] = (ijkToRAS @ np.array([i0, j0, k0 + start, 1.0]))[:3]
    spacing, origin, direction = geometry_from_ijk_to_ras(ijkToRAS)
    nx, ny, _ = _dimensions(volumeNode)
    return Grid((stop - start, ny, nx), spacing, origin, direction, volumeNode.GetName() or "")


def _setVoxelsAndGeometry(node, array: np.ndarray, volume: Volume) -> None:
    """Give a volume node a deep copy of `array` (z, y, x) as image data on the volume's grid."""
    array = np.ascontiguousarray(array)
    nz, ny, nx = array.shape
    image = vtk.vtkImageData()
    image.SetDimensions(nx, ny, nz)
    scalars = numpy_support.numpy_to_vtk(array.reshape(-1), deep=True)
    scalars.SetName("ImageScalars")
    image.GetPointData().SetScalars(scalars)
    node.SetAndObserveImageData(image)
    _setIJKToRAS(node, volume.ijk_to_ras())


def _onNodeGrid(volumeNode, grid: Volume, atol: float = 1e-4) -> bool:
    """Whether `grid` is the node's whole grid (a full run) rather than part of it (a preview)."""
    nx, ny, nz = _dimensions(volumeNode)
    if grid.shape != (nz, ny, nx):
        return False
    nodeGrid = _ijkToRAS(volumeNode)
    i0, _, j0, _, k0, _ = volumeNode.GetImageData().GetExtent()
    nodeGrid[:3, 3] = (nodeGrid @ np.array([i0, j0, k0, 1.0]))[:3]
    return bool(np.allclose(grid.ijk_to_ras(), nodeGrid, atol=atol))

def _referenced(node, role: str):
    """The node `node` references under `role`, if it is still in the scene."""
    target = node.GetNodeReference(role)
    scene = node.GetScene()
    if target is None or scene is None or not scene.IsNodePresent(target):
        return None
    return target


def _removeNode(scene, node) -> None:
    """Remove a node and the display/storage nodes that belong only to it."""
    if node is None or not scene.IsNodePresent(node):
        return
    helpers = []
    if hasattr(node, "GetNumberOfDisplayNodes"):
        helpers += [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
    if hasattr(node, "GetStorageNode"):
        helpers.append(node.GetStorageNode())
    scene.RemoveNode(node)
    for helper in helpers:
        if helper is not None and scene.IsNodePresent(helper):
            scene.RemoveNode(helper)
