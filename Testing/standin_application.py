"""Stand-ins for the Slicer application's modules (slicer, qt, vtk, ctk), for loading the module file
in a test's child interpreter where the application cannot be installed.

`install(make)` puts an import hook in front of the others: importing slicer, qt, vtk, ctk or any
submodule of them gives a module whose every attribute is made on first use by `make(name)`. The
test then replaces the few attributes whose behaviour it relies on. `install(make, ("qt", "ctk"))`
stands in for those only, so that slicer and vtk are slicer-core's, with a real MRML scene.
"""
import importlib.abc
import importlib.machinery
import sys
import types

APPLICATION_MODULES = ("slicer", "qt", "vtk", "ctk")


def install(make, modules=APPLICATION_MODULES) -> None:
    class ApplicationModule(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            value = make(name)
            setattr(self, name, value)
            return value

    class Application(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in modules:
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            return ApplicationModule(spec.name)

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, Application())
